package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/tokenbatch/tokenbatch/internal/secret"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/tokenbatch/tokenbatch/awscfg"
	"github.com/tokenbatch/tokenbatch/executor"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/report"
)

// batchOptions are the execution flags shared by `tokenbatch apply` and `tokenbatch run`.
type batchOptions struct {
	Rate        float64
	Concurrency int
	MaxAttempts int
	Timeout     time.Duration
	ReportDir   string
	Resume      string
	LogFormat   string
	// Progress forces the progress bar on or off; nil: on when stderr is a terminal.
	Progress *bool
	// Codes gives the codes of devices held on tokens; nil: such devices fail.
	Codes executor.CodeSource
}

// defaultReportRoot is where a run's report directory goes when --report-dir is not given.
const defaultReportRoot = "reports"

func (o *batchOptions) addFlags(fs *pflag.FlagSet) {
	fs.Float64Var(&o.Rate, "rate", executor.DefaultRate, "ResyncMFADevice requests per second at most (IAM's budget is shared with other automation; Throttling lowers it)")
	fs.IntVar(&o.Concurrency, "concurrency", executor.DefaultConcurrency, "requests in flight at most")
	fs.IntVar(&o.MaxAttempts, "max-attempts", executor.DefaultMaxAttempts, "attempts per device, not counting throttled ones")
	fs.DurationVar(&o.Timeout, "timeout", executor.DefaultTimeout, "per-request timeout")
	fs.StringVar(&o.ReportDir, "report-dir", "", "directory for the report and journal (default: a new reports/YYYYMMDDTHHMMSSZ)")
	fs.StringVar(&o.Resume, "resume", "", "resume the run whose report directory this is: devices that succeeded are not sent again")
	fs.StringVar(&o.LogFormat, "log-format", "text", "log lines on stderr: text or json")
}

func (o *batchOptions) validate() error {
	switch {
	case o.Rate <= 0:
		return exitf(ExitUsage, "--rate %v: must be above 0", o.Rate)
	case o.Concurrency < 1:
		return exitf(ExitUsage, "--concurrency %d: must be at least 1", o.Concurrency)
	case o.MaxAttempts < 1:
		return exitf(ExitUsage, "--max-attempts %d: must be at least 1", o.MaxAttempts)
	case o.Timeout <= 0:
		return exitf(ExitUsage, "--timeout %s: must be above 0", o.Timeout)
	case o.LogFormat != "text" && o.LogFormat != "json":
		return exitf(ExitUsage, "--log-format %q: want text or json", o.LogFormat)
	case o.Resume != "" && o.ReportDir != "" && filepath.Clean(o.Resume) != filepath.Clean(o.ReportDir):
		return exitf(ExitUsage, "--resume %s and --report-dir %s differ: a resumed run reports into its own directory", o.Resume, o.ReportDir)
	}
	return nil
}

type applyOptions struct {
	batchOptions
	AWS         awscfg.Options
	Plan        string
	Force       bool
	SkipInvalid bool
	// Tokens opens the YubiKeys or the TPM of a plan made with --from-tokens/--from-tpm.
	Tokens tokenFlags
}

func init() {
	register(func(stdio IO) *cobra.Command {
		o := &applyOptions{}
		c := &cobra.Command{
			Use:   "apply PLAN",
			Short: "Resync the devices of a saved plan, rate limited, with a report and a journal",
			Long: `Resync every device of a plan saved by 'tokenbatch plan --out', at most --rate
requests per second and --concurrency at a time, retrying Throttling, server failures
and lost connections. Each device gets a row in report.csv, report.jsonl and
report.junit.xml in the report directory, beside a journal that lets --resume finish an
interrupted run without resyncing any device twice. A summary is printed on stdout.

A plan older than its --max-code-age is refused (its codes have most likely expired)
unless --force is given. A plan made with --from-tokens or --from-tpm holds no codes:
apply reads them from the same YubiKeys (--allow-virtual-readers, --oath-password, ...)
or TPM (--tpm, --tpm-store, --tpm-key-auth) when each device's turn comes. See
docs/batch.md.

Exit status: 0 every device succeeded; 1 some device did not; 130/143 interrupted;
252 bad arguments, or a plan with errors (nothing was sent); 253 configuration or
credentials (also when credentials expire mid-run); 255 anything else.`,
			Example: `  tokenbatch plan --manifest devices.csv --out plan.json
  tokenbatch apply plan.json --rate 5
  tokenbatch apply plan.json --resume reports/20250101T120000Z`,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				o.Plan = args[0]
				o.AWS.Stdin = stdio.In
				o.AWS.Stderr = stdio.ErrOut
				return runApply(cmd.Context(), stdio, o)
			},
		}
		f := c.Flags()
		o.addFlags(f)
		f.BoolVar(&o.Force, "force", false, "apply a plan older than its --max-code-age")
		f.BoolVar(&o.SkipInvalid, "skip-invalid", false, "go on with the valid devices of a plan with errors (the others are reported skipped)")
		o.Tokens.addSourceFlags(f)
		o.AWS.AddFlags(f)
		return c
	})
}

// runApply is `tokenbatch apply`.
func runApply(ctx context.Context, stdio IO, o *applyOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	p, err := plan.Load(o.Plan)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("cannot read the plan: %w", planPathError(err))}
	}
	if p.Expired(time.Now()) && !o.Force {
		return exitf(ExitUsage, "%s: the plan is older than its max code age (%s), so its codes have most likely expired; nothing was sent\ncollect fresh codes and plan again, or pass --force", o.Plan, p.MaxCodeAge)
	}
	switch {
	case p.HasErrors() && !o.SkipInvalid:
		return exitf(ExitUsage, "%s: the plan has %s with errors; nothing was sent\nfix the manifest and plan again, or pass --skip-invalid", o.Plan, planPlural(p.ErrorRows(), "row"))
	case p.Len() == 0:
		return exitf(ExitUsage, "%s: no valid device to resync", o.Plan)
	}
	src, err := o.Tokens.openPlanSources(ctx, stdio, p)
	if err != nil {
		return err
	}
	if src != nil {
		defer src.Close()
		o.Codes = src
	}
	return executeBatch(ctx, stdio, &o.AWS, &o.batchOptions, p, o.SkipInvalid)
}

// executeBatch resyncs the devices of p and reports. It is the second half of both
// apply and run.
func executeBatch(ctx context.Context, stdio IO, awsOpts *awscfg.Options, o *batchOptions, p *plan.Plan, skipInvalid bool) error {
	if err := o.validate(); err != nil {
		return err
	}
	showProgress := secret.IsTerminal(stdio.ErrOut)
	if o.Progress != nil {
		showProgress = *o.Progress
	}
	var progress *mpb.Progress
	logOut := stdio.ErrOut
	level := slog.LevelInfo
	if showProgress {
		progress = mpb.NewWithContext(context.WithoutCancel(ctx), mpb.WithOutput(stdio.ErrOut), mpb.WithWidth(40))
		logOut, level = progress, slog.LevelWarn // the bar shows progress; lines above it show problems
	}
	if awsOpts.Debug {
		level = slog.LevelDebug
	}
	log := batchLogger(logOut, o.LogFormat, level)

	cfg, err := awsOpts.Load(ctx)
	if err != nil {
		return planAWSExit(err, "")
	}
	clock := &executor.Clock{}
	cfg.APIOptions = append(cfg.APIOptions, clock.AddMiddleware)
	if err := awscfg.Retrieve(ctx, cfg); err != nil {
		return planAWSExit(err, "")
	}
	// The caller's account must be the plan's (offline plans too: their rows' account),
	// or the codes would go to another account. The call also sets IAM's clock for
	// token codes.
	account, partition, err := batchCallerAccount(ctx, cfg)
	if err != nil {
		return err
	}
	if err := batchCheckAccount(p, account, partition); err != nil {
		return err
	}
	if p.AccountID == "" {
		// No row names an account (hardware serials only): the plan is bound to the
		// credentials' account here, and the journal records it, so a resume with
		// other credentials is refused.
		log.Info("the plan names no account: resyncing in the credentials' account", "account", account)
	}

	header := executor.Header{ManifestDigest: p.ManifestDigest, AccountID: account, Partition: partition,
		Source: p.Source, Devices: p.Len()}
	if p.ManifestDigest == "" {
		// Token plans have no manifest: bind the journal to their devices instead.
		header.DevicesDigest = executor.DevicesDigest(p)
	}
	var (
		journal *executor.Journal
		resume  *executor.Resume
		dir     string
	)
	if o.Resume != "" {
		dir = o.Resume
		journal, resume, err = executor.OpenJournal(dir, header)
	} else {
		dir, err = batchReportDir(o.ReportDir)
		if err == nil {
			journal, err = executor.CreateJournal(dir, header)
		}
	}
	if err != nil {
		code := ExitUsage
		if errors.Is(err, executor.ErrJournalCorrupt) {
			code = ExitOther
		}
		return &ExitError{Code: code, Err: fmt.Errorf("%w; nothing was sent", err)}
	}
	defer journal.Close()
	if resume != nil {
		log.Info("resuming", "report_dir", dir, "already_succeeded", resume.Succeeded())
	}

	var (
		bar    *mpb.Bar
		notYet atomic.Int64 // devices that did not succeed, shown beside the bar
	)
	if progress != nil {
		bar = progress.AddBar(int64(p.Len()),
			mpb.PrependDecorators(decor.Name("resync "), decor.CountersNoUnit("%d/%d")),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Name(" "), decor.Elapsed(decor.ET_STYLE_GO),
				decor.Any(func(decor.Statistics) string {
					if n := notYet.Load(); n > 0 {
						return fmt.Sprintf("  %d not succeeded", n)
					}
					return ""
				})))
	}
	log.Info("run", "devices", p.Len(), "account", account, "report_dir", dir, "rate", o.Rate, "concurrency", o.Concurrency)
	client := iam.NewFromConfig(cfg)
	res, err := executor.Run(ctx, client, p, executor.Options{
		Rate: o.Rate, Concurrency: o.Concurrency, MaxAttempts: o.MaxAttempts, Timeout: o.Timeout,
		AccountID: account, Codes: o.Codes, Clock: clock, Journal: journal, Resume: resume, Logger: log,
		OnOutcome: func(o report.Outcome) {
			if bar != nil {
				if o.Status != report.Succeeded && o.ErrorCode != executor.CodeAlreadySucceeded {
					notYet.Add(1)
				}
				bar.Increment()
			}
		},
	})
	if bar != nil {
		bar.Abort(false)
		progress.Wait()
	}
	if err != nil {
		return &ExitError{Code: ExitOther, Err: err}
	}

	rows := res.Outcomes
	if skipInvalid {
		rows = append(rows, batchInvalidRows(p, account)...)
	}
	werr := report.Write(dir, rows)
	sum := report.Summarize(rows, res.Elapsed(), res.Requests, res.Throttled)
	sum.Print(stdio.Out)
	if werr == nil {
		fmt.Fprintf(stdio.Out, "reports: %s\n", strings.Join([]string{filepath.Join(dir, report.CSVName),
			filepath.Join(dir, report.JSONLName), filepath.Join(dir, report.JUnitName)}, ", "))
	}
	return batchExit(ctx, res, rows, dir, werr)
}

// batchExit is the exit status of a finished run.
func batchExit(ctx context.Context, res *executor.Result, rows []report.Outcome, dir string, werr error) error {
	resumeHint := fmt.Sprintf("\nto finish it, run the same command with --resume %s", dir)
	switch {
	case errors.Is(res.Stop, executor.ErrInterrupted):
		code := SignalExit(ctx)
		if code == 0 {
			code = ExitSIGINT
		}
		return &ExitError{Code: code, Err: fmt.Errorf("interrupted; devices not finished are reported not_attempted%s", resumeHint)}
	case errors.Is(res.Stop, executor.ErrCredentials):
		return &ExitError{Code: ExitConfig, Err: fmt.Errorf("%v; the run stopped and the rest was not sent\nrenew the credentials%s", res.Stop, resumeHint)}
	case res.Stop != nil:
		return &ExitError{Code: ExitOther, Err: fmt.Errorf("%v; the run stopped and the rest was not sent%s", res.Stop, resumeHint)}
	case werr != nil:
		return &ExitError{Code: ExitOther, Err: werr}
	}
	bad := 0
	for i := range rows {
		if r := &rows[i]; r.Status != report.Succeeded && r.ErrorCode != executor.CodeAlreadySucceeded {
			bad++
		}
	}
	if bad > 0 {
		return &ExitError{Code: ExitIncomplete, Err: fmt.Errorf("%s of %d did not succeed; see %s",
			planPlural(bad, "device"), len(rows), filepath.Join(dir, report.CSVName))}
	}
	return nil
}

// invalidRows reports the plan's invalid rows as skipped, with their problems.
func batchInvalidRows(p *plan.Plan, account string) []report.Outcome {
	byLine := map[int][]string{}
	for _, q := range p.Problems {
		if q.Line > 0 && q.Severity == plan.Error {
			byLine[q.Line] = append(byLine[q.Line], q.Message)
		}
	}
	var rows []report.Outcome
	for _, d := range p.Invalid() {
		o := report.Outcome{UserName: d.UserName, SerialNumber: d.SerialNumber, AccountID: d.AccountID,
			Status: report.Skipped, ErrorCode: executor.CodeInvalidRow, Line: d.Line, Ticket: d.Ticket,
			ErrorMessage: "invalid in the plan, skipped (--skip-invalid)"}
		if o.AccountID == "" {
			o.AccountID = account
		}
		if m := byLine[d.Line]; len(m) > 0 {
			o.ErrorMessage += ": " + strings.Join(m, "; ")
		}
		rows = append(rows, o)
	}
	return rows
}

// reportDir creates the report directory (0700): dir, or a new timestamped one under
// ./reports.
func batchReportDir(dir string) (string, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("cannot create the report directory: %w", err)
		}
		return dir, nil
	}
	if err := os.MkdirAll(defaultReportRoot, 0o700); err != nil {
		return "", fmt.Errorf("cannot create the report directory: %w", err)
	}
	base := filepath.Join(defaultReportRoot, time.Now().UTC().Format("20060102T150405Z"))
	for i := 1; ; i++ {
		dir = base
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrExist) || i > 100 {
			return "", fmt.Errorf("cannot create the report directory: %w", err)
		}
	}
}

// batchCallerAccount asks STS for the credentials' account and partition. Refused
// credentials are 253.
func batchCallerAccount(ctx context.Context, cfg aws.Config) (account, partition string, err error) {
	out, err := sts.NewFromConfig(cfg, func(o *sts.Options) { o.Retryer = awscfg.ReadRetryer() }).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		d := awscfg.Describe(err, "GetCallerIdentity")
		code := ExitConfig
		if d.Code == ExitOther {
			code = ExitOther // the endpoint could not be reached
		}
		return "", "", &ExitError{Code: code, Err: fmt.Errorf("cannot tell which account the credentials belong to: %s; nothing was sent", d.Message)}
	}
	a, perr := arn.Parse(aws.ToString(out.Arn))
	if perr != nil || aws.ToString(out.Account) == "" {
		return "", "", exitf(ExitConfig, "sts get-caller-identity returned no account; nothing was sent")
	}
	return aws.ToString(out.Account), a.Partition, nil
}

// batchCheckAccount refuses credentials of another account or partition than the
// plan's (253).
func batchCheckAccount(p *plan.Plan, account, partition string) error {
	switch {
	case p.AccountID != "" && account != p.AccountID:
		return exitf(ExitConfig, "the plan is for account %s, but the credentials are for account %s; nothing was sent\nuse credentials of account %s, or plan again",
			p.AccountID, account, p.AccountID)
	case p.Partition != "" && partition != p.Partition:
		return exitf(ExitConfig, "the plan is for partition %s, but the credentials are for partition %s; nothing was sent\nuse credentials of the %s partition, or plan again",
			p.Partition, partition, p.Partition)
	}
	return nil
}

func batchLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
