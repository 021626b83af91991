package commands

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tokenbatch/tokenbatch/awscfg"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/reader"
)

// planOptions are the planning flags, shared by `tokenbatch plan` and `tokenbatch run`.
type planOptions struct {
	Manifest    string
	MaxCodeAge  time.Duration
	CheckIAM    bool
	SkipInvalid bool
	Force       bool
	Output      string // table|json|text
	Out         string // --out file
	// Offline plans without credentials: no STS call, so the account is only checked
	// for consistency between rows. Only `tokenbatch plan` offers it.
	Offline bool
	// Now is the planning time; zero means time.Now() (tests set it).
	Now time.Time
	// Tokens: --from-tokens or --from-tpm instead of --manifest (batch_tokens.go).
	Tokens tokenFlags
}

// planFormats are the values of --output.
var planFormats = []string{"table", "json", "text"}

// addFlags adds the planning flags (not the AWS global ones, nor --offline or --force).
func (o *planOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Manifest, "manifest", "", "CSV manifest: user_name,serial_number,authentication_code1,authentication_code2 (- for stdin)")
	fs.DurationVar(&o.MaxCodeAge, "max-code-age", plan.DefaultMaxCodeAge, "rows whose collected_at is older are stale (an assumption: AWS publishes no window)")
	fs.BoolVar(&o.CheckIAM, "check-iam", false, "also check with IAM (read-only listings) that each user exists and owns the serial")
	fs.BoolVar(&o.SkipInvalid, "skip-invalid", false, "go on with the valid rows when some rows have errors")
	fs.StringVar(&o.Output, "output", "table", "plan output: table, json or text")
	fs.StringVar(&o.Out, "out", "", "save the plan to this file (mode 0600: it holds the codes)")
	o.Tokens.addFlags(fs)
}

type planCommand struct {
	planOptions
	AWS awscfg.Options
}

func init() {
	register(func(stdio IO) *cobra.Command {
		o := &planCommand{}
		c := &cobra.Command{
			Use:   "plan (--manifest FILE | --from-tokens | --from-tpm) [--out PLAN]",
			Short: "Validate a manifest and show (or save) the resync plan; nothing is changed",
			Long: `Read a CSV manifest of MFA devices, check every row against IAM's constraints and
the account of the credentials (STS GetCallerIdentity), and print the plan: the devices
that would be resynced, earliest-collected first. Problems are printed on stderr as
FILE:LINE: column NAME: MESSAGE. Codes are never printed.

--check-iam also confirms, with read-only listings, that each user exists and that the
serial is that user's device. --out saves the plan (JSON, mode 0600) for 'tokenbatch
apply'. --offline plans without credentials or any request.

--from-tokens plans the IAM devices of the OATH credentials on the attached YubiKeys
(see docs/yubikey.md), --from-tpm those whose keys are in the TPM store (docs/tpm.md);
their codes are read when 'run' or 'apply' sends each device.

Exit status: 0 the plan has no errors (or --skip-invalid was given and some row is
valid); 252 a manifest with errors or bad arguments (nothing was sent); 253 configuration
or credentials. See docs/manifest.md.`,
			Example: `  tokenbatch plan --manifest devices.csv
  tokenbatch plan --manifest devices.csv --check-iam --out plan.json
  tokenbatch plan --offline --manifest devices.csv --output json
  tokenbatch plan --from-tokens --device 12345678
  tokenbatch plan --from-tpm --out tpm-plan.json`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				o.AWS.Stdin = stdio.In
				o.AWS.Stderr = stdio.ErrOut
				return runPlan(cmd.Context(), stdio, o)
			},
		}
		f := c.Flags()
		o.addFlags(f)
		f.BoolVar(&o.Offline, "offline", false, "plan without credentials: no STS or IAM request; rows need only agree on one account")
		o.AWS.AddFlags(f)
		_ = c.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return planFormats, cobra.ShellCompDirectiveNoFileComp
		})
		return c
	})
}

// runPlan is `tokenbatch plan`.
func runPlan(ctx context.Context, stdio IO, o *planCommand) error {
	p, _, err := o.build(ctx, &o.AWS, stdio, false)
	if p == nil {
		return err
	}
	w := bufio.NewWriterSize(stdio.Out, 64<<10)
	if perr := printPlan(w, p, o.Output); perr != nil {
		return &ExitError{Code: ExitOther, Err: perr}
	}
	if ferr := w.Flush(); ferr != nil {
		return &ExitError{Code: ExitOther, Err: ferr}
	}
	if err != nil {
		return err
	}
	if o.Out != "" {
		if err := p.Save(o.Out); err != nil {
			return &ExitError{Code: ExitOther, Err: fmt.Errorf("saving the plan: %w", err)}
		}
		if o.Tokens.any() {
			fmt.Fprintf(stdio.ErrOut, "plan saved to %s; 'tokenbatch apply' reads the codes from the tokens again\n", o.Out)
		} else {
			fmt.Fprintf(stdio.ErrOut, "plan saved to %s (mode 0600: it holds authentication codes)\n", o.Out)
		}
	}
	return nil
}

// buildPlan reads and validates the manifest and returns the plan, printing its
// problems on stderr.
//
// The manifest is first planned offline. When that finds errors (and --skip-invalid is
// not given) no request is sent at all. Otherwise the credentials' account is resolved
// with STS GetCallerIdentity (unless o.Offline) and the manifest planned again against
// it, with the IAM checks of --check-iam.
//
// The error is an *ExitError: 252 for bad arguments, an unreadable or broken manifest,
// or a plan with errors (then the plan is returned too, so it can be shown); 253 for
// configuration and credentials; 255 for anything else.
func (o *planOptions) buildPlan(ctx context.Context, awsOpts *awscfg.Options, stdio IO) (*plan.Plan, error) {
	if err := o.checkSource(); err != nil {
		return nil, err
	}
	if !slices.Contains(planFormats, o.Output) {
		return nil, exitf(ExitUsage, "--output %q: want table, json or text", o.Output)
	}
	if o.MaxCodeAge < 0 {
		return nil, exitf(ExitUsage, "--max-code-age %s: must not be negative", o.MaxCodeAge)
	}
	if o.Offline && o.CheckIAM {
		return nil, exitf(ExitUsage, "--check-iam asks IAM, so it cannot be used with --offline")
	}
	open, err := o.manifestSource(stdio)
	if err != nil {
		return nil, err
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	opts := plan.Options{MaxCodeAge: o.MaxCodeAge, Now: now}
	p, err := o.fromManifest(ctx, open, opts)
	if err != nil {
		return nil, err
	}
	// A manifest with errors is not worth asking IAM about, unless the user asked for
	// IAM's read-only checks: then one pass shows every problem.
	if !o.Offline && (!p.HasErrors() || o.SkipInvalid || o.CheckIAM) {
		digest := p.ManifestDigest
		cfg, err := awsOpts.Load(ctx)
		if err != nil {
			return nil, planAWSExit(err, "")
		}
		opts.AccountID, opts.Partition, err = planCallerAccount(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if o.CheckIAM {
			opts.CheckIAM, opts.IAM = true, iam.NewFromConfig(cfg, func(o *iam.Options) { o.Retryer = awscfg.ReadRetryer() })
		}
		if p, err = o.fromManifest(ctx, open, opts); err != nil {
			return nil, err
		}
		if p.ManifestDigest != digest {
			return nil, exitf(ExitUsage, "%s changed while it was being planned; plan again", o.Manifest)
		}
	}
	printPlanProblems(stdio.ErrOut, p)
	return p, o.checkPlan(p)
}

// checkPlan returns the exit error for a plan with errors, or nil.
func (o *planOptions) checkPlan(p *plan.Plan) error {
	where := o.Manifest
	switch {
	case o.Tokens.any():
		where = o.Tokens.what()
	case where == "-":
		where = "stdin"
	}
	switch {
	case p.HasErrors() && !o.SkipInvalid && p.Len() == 0:
		return exitf(ExitUsage, "%s: %s with errors and no valid row; nothing was sent", where, planPlural(p.ErrorRows(), "row"))
	case p.HasErrors() && !o.SkipInvalid:
		return exitf(ExitUsage, "%s: %s with errors; nothing was sent\nfix them, or pass --skip-invalid to go on with the %s",
			where, planPlural(p.ErrorRows(), "row"), planPlural(p.Len(), "valid device"))
	case p.Len() == 0:
		return exitf(ExitUsage, "%s: no valid device to resync", where)
	}
	return nil
}

// manifestSource returns a function that opens the manifest again for each pass; stdin
// is read once into memory.
func (o *planOptions) manifestSource(stdio IO) (func() (string, io.ReadCloser, error), error) {
	if o.Manifest != "-" {
		return func() (string, io.ReadCloser, error) {
			f, err := os.Open(o.Manifest)
			return o.Manifest, f, err
		}, nil
	}
	in := stdio.In
	if in == nil {
		in = os.Stdin
	}
	b, err := io.ReadAll(in)
	if err != nil {
		return nil, exitf(ExitUsage, "reading the manifest from stdin: %v", err)
	}
	return func() (string, io.ReadCloser, error) {
		return "stdin", io.NopCloser(bytes.NewReader(b)), nil
	}, nil
}

func (o *planOptions) fromManifest(ctx context.Context, open func() (string, io.ReadCloser, error), opts plan.Options) (*plan.Plan, error) {
	name, r, err := open()
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("cannot read the manifest: %w", planPathError(err))}
	}
	defer r.Close()
	p, err := plan.FromReader(ctx, name, r, opts)
	var re *reader.Error
	switch {
	case err == nil:
		return p, nil
	case errors.As(err, &re):
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nnothing was sent", err)}
	case errors.Is(err, plan.ErrIAMCheck):
		d := awscfg.Describe(err, "")
		return nil, &ExitError{Code: d.Code, Err: fmt.Errorf("--check-iam: %s", d.Message)}
	case ctx.Err() != nil:
		if code := SignalExit(ctx); code != 0 {
			return nil, &ExitError{Code: code, Err: ctx.Err()}
		}
		return nil, &ExitError{Code: ExitOther, Err: err}
	}
	return nil, &ExitError{Code: ExitOther, Err: fmt.Errorf("%s: %w", name, err)}
}

func planPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// planCallerAccount asks STS which account and partition the credentials belong to.
func planCallerAccount(ctx context.Context, cfg aws.Config) (account, partition string, err error) {
	if err := awscfg.Retrieve(ctx, cfg); err != nil {
		return "", "", planAWSExit(err, "; pass --offline to plan without credentials")
	}
	out, err := sts.NewFromConfig(cfg, func(o *sts.Options) { o.Retryer = awscfg.ReadRetryer() }).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		d := awscfg.Describe(err, "GetCallerIdentity")
		return "", "", &ExitError{Code: ExitConfig, Err: fmt.Errorf(
			"cannot tell which account the credentials belong to: %s\ncheck the credentials, or pass --offline to plan without them", d.Message)}
	}
	a, perr := arn.Parse(aws.ToString(out.Arn))
	if perr != nil || aws.ToString(out.Account) == "" {
		return "", "", &ExitError{Code: ExitConfig, Err: fmt.Errorf("sts get-caller-identity returned no account")}
	}
	return aws.ToString(out.Account), a.Partition, nil
}

// planAWSExit turns an awscfg error into an ExitError with the AWS CLI's exit code.
func planAWSExit(err error, hint string) error {
	var ae *awscfg.Error
	if errors.As(err, &ae) {
		return &ExitError{Code: ae.Code, Err: errors.New(ae.Message + hint)}
	}
	return &ExitError{Code: ExitConfig, Err: fmt.Errorf("%w%s", err, hint)}
}

// printPlanProblems writes one line per problem, then how many rows have errors.
func printPlanProblems(w io.Writer, p *plan.Plan) {
	bw := bufio.NewWriter(w)
	for _, q := range p.Problems {
		bw.WriteString(q.String())
		bw.WriteByte('\n')
	}
	if len(p.OmittedProblems) > 0 {
		n := 0
		var byCode []string
		for _, code := range slices.Sorted(maps.Keys(p.OmittedProblems)) {
			n += p.OmittedProblems[code]
			byCode = append(byCode, fmt.Sprintf("%s %d", code, p.OmittedProblems[code]))
		}
		fmt.Fprintf(bw, "... %d more problems not shown (%s)\n", n, strings.Join(byCode, ", "))
	}
	if p.HasErrors() {
		fmt.Fprintf(bw, "%s with errors, %s\n", planPlural(p.ErrorRows(), "row"), planPlural(p.Len(), "valid device"))
	}
	bw.Flush()
}

func planPlural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// planRow is a device as printed: never its codes.
type planRow struct {
	Order        int       `json:"order"`
	Line         int       `json:"line,omitempty"`
	UserName     string    `json:"user_name"`
	SerialNumber string    `json:"serial_number"`
	AccountID    string    `json:"account_id,omitempty"`
	CollectedAt  time.Time `json:"collected_at,omitzero"`
	Ticket       string    `json:"ticket,omitempty"`
	Token        string    `json:"token,omitempty"`
}

func toPlanRow(i int, d plan.Device) planRow {
	pd := planRow{Order: i + 1, Line: d.Line, UserName: d.UserName, SerialNumber: d.SerialNumber,
		AccountID: d.AccountID, CollectedAt: d.CollectedAt, Ticket: d.Ticket}
	if d.Token != nil {
		pd.Token = d.Token.Kind + ":" + d.Token.Serial
	}
	return pd
}

// printPlan prints the valid devices in execution order as a table, JSON or
// tab-separated text. Codes are never printed.
func printPlan(w io.Writer, p *plan.Plan, format string) error {
	switch format {
	case "json":
		return printPlanJSON(w, p)
	case "text":
		return printPlanText(w, p)
	case "table", "":
		return printPlanTable(w, p)
	}
	return fmt.Errorf("unknown output format %q", format)
}

func printPlanJSON(w io.Writer, p *plan.Plan) error {
	problems := p.Problems
	if problems == nil {
		problems = []plan.Problem{}
	}
	head, err := json.Marshal(struct {
		CreatedAt      time.Time      `json:"created_at"`
		AccountID      string         `json:"account_id,omitempty"`
		Partition      string         `json:"partition,omitempty"`
		Offline        bool           `json:"offline,omitempty"`
		Source         string         `json:"source"`
		ManifestDigest string         `json:"manifest_digest,omitempty"`
		MaxCodeAge     string         `json:"max_code_age"`
		Valid          int            `json:"valid"`
		ErrorRows      int            `json:"error_rows"`
		Problems       []plan.Problem `json:"problems"`
		Omitted        map[string]int `json:"omitted_problems,omitempty"`
	}{p.CreatedAt, p.AccountID, p.Partition, p.Offline, p.Source, p.ManifestDigest, p.MaxCodeAge.String(), p.Len(), p.ErrorRows(), problems, p.OmittedProblems})
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"devices":[`)
	for i := range p.Len() {
		b, err := json.Marshal(toPlanRow(i, p.Device(i)))
		if err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n")
		bw.Write(b)
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

func printPlanText(w io.Writer, p *plan.Plan) error {
	bw := bufio.NewWriter(w)
	for i := range p.Len() {
		d := toPlanRow(i, p.Device(i))
		fmt.Fprintf(bw, "DEVICE\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", d.Order, d.Line, d.UserName, d.SerialNumber,
			d.AccountID, planFormatTime(d.CollectedAt), d.Ticket)
	}
	return bw.Flush()
}

func planFormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

var planColumns = []string{"#", "LINE", "USER_NAME", "SERIAL_NUMBER", "ACCOUNT_ID", "COLLECTED_AT", "TICKET"}

func printPlanTable(w io.Writer, p *plan.Plan) error {
	cells := func(d planRow) []string {
		line := ""
		if d.Line > 0 {
			line = strconv.Itoa(d.Line)
		}
		ticket := d.Ticket
		if d.Token != "" {
			ticket = strings.TrimSpace(d.Token + " " + ticket)
		}
		return []string{strconv.Itoa(d.Order), line, d.UserName, d.SerialNumber, d.AccountID, planFormatTime(d.CollectedAt), ticket}
	}
	// Two passes rather than text/tabwriter, which would buffer a million rows.
	width := make([]int, len(planColumns))
	for i, c := range planColumns {
		width[i] = len(c)
	}
	for i := range p.Len() {
		for j, c := range cells(toPlanRow(i, p.Device(i))) {
			width[j] = max(width[j], utf8.RuneCountInString(c))
		}
	}
	bw := bufio.NewWriter(w)
	var line []byte
	row := func(cs []string) {
		line = line[:0]
		for j, c := range cs {
			line = append(line, c...)
			if j < len(cs)-1 {
				for range width[j] - utf8.RuneCountInString(c) + 2 {
					line = append(line, ' ')
				}
			}
		}
		line = append(bytes.TrimRight(line, " "), '\n')
		bw.Write(line)
	}
	if p.Len() > 0 {
		row(planColumns)
		for i := range p.Len() {
			row(cells(toPlanRow(i, p.Device(i))))
		}
	}
	switch {
	case p.AccountID != "" && p.Offline:
		// The rows' account, which apply will hold the credentials to.
		fmt.Fprintf(bw, "%s to resync in account %s (offline: account not checked)", planPlural(p.Len(), "device"), p.AccountID)
	case p.AccountID != "":
		fmt.Fprintf(bw, "%s to resync in account %s", planPlural(p.Len(), "device"), p.AccountID)
	default:
		fmt.Fprintf(bw, "%s to resync (account not checked)", planPlural(p.Len(), "device"))
	}
	if p.HasErrors() {
		fmt.Fprintf(bw, "; %s with errors", planPlural(p.ErrorRows(), "row"))
	}
	bw.WriteString("\n")
	return bw.Flush()
}
