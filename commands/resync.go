package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/spf13/cobra"

	"github.com/tokenbatch/tokenbatch/awscfg"
	"github.com/tokenbatch/tokenbatch/executor"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/report"
)

// resyncOptions are the options of `tokenbatch resync-mfa-device`, the AWS CLI's
// `aws iam resync-mfa-device` with the same names.
type resyncOptions struct {
	Input    resyncInput
	InputSet map[string]bool // which of Input's members were given on the command line

	CLIInputJSON      string
	GenerateSkeleton  string // "", "input", "yaml-input" or "output"
	Version           bool
	AWS               awscfg.Options
	Output            awscfg.OutputOptions
	unexpectedOptions []string
}

// resyncInput is the request, with IAM's member names (those of --cli-input-json).
type resyncInput struct {
	UserName            string
	SerialNumber        string
	AuthenticationCode1 string
	AuthenticationCode2 string
}

// resyncMembers lists the request's members in the service model's order, with their
// flags and IAM's constraints (plan's checks; the AWS CLI checks only the minimum
// lengths, tokenbatch all of them).
var resyncMembers = []struct {
	Name, Flag string
	Check      func(string) error // returns nil or a *plan.RuleError
	Secret     bool
	Doc        string
}{
	{"UserName", "user-name", plan.CheckUserName, false, "The name of the user whose MFA device you want to resynchronize."},
	{"SerialNumber", "serial-number", plan.CheckSerialNumber, false, "Serial number that uniquely identifies the MFA device."},
	{"AuthenticationCode1", "authentication-code1", plan.CheckCode, true, "An authentication code emitted by the device."},
	{"AuthenticationCode2", "authentication-code2", plan.CheckCode, true, "A subsequent authentication code emitted by the device."},
}

func (in *resyncInput) field(name string) *string {
	switch name {
	case "UserName":
		return &in.UserName
	case "SerialNumber":
		return &in.SerialNumber
	case "AuthenticationCode1":
		return &in.AuthenticationCode1
	case "AuthenticationCode2":
		return &in.AuthenticationCode2
	}
	return nil
}

func init() {
	register(func(stdio IO) *cobra.Command {
		o := &resyncOptions{InputSet: map[string]bool{}}
		c := &cobra.Command{
			Use:   "resync-mfa-device --user-name <value> --serial-number <value> --authentication-code1 <value> --authentication-code2 <value>",
			Short: "Resynchronize one MFA device with IAM, as `aws iam resync-mfa-device` does",
			Long: `Resynchronizes the specified MFA device with its IAM resource object on the Amazon Web
Services servers: the same command line as 'aws iam resync-mfa-device', with the AWS CLI's
global options, configuration, output and exit codes (0, 130, 252, 253, 254, 255).

Unlike the AWS CLI, every IAM constraint (codes of exactly six digits, user name and
serial number patterns and lengths) is checked before anything is sent, and --debug
never shows the authentication codes, secret keys or session tokens.`,
			Example: `  tokenbatch resync-mfa-device --user-name Bob --serial-number arn:aws:iam::123456789012:mfa/BobsMFADevice \
      --authentication-code1 123456 --authentication-code2 987654`,
			Args: cobra.ArbitraryArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				for _, m := range resyncMembers {
					o.InputSet[m.Name] = cmd.Flags().Changed(m.Flag)
				}
				o.unexpectedOptions = args
				// --generate-cli-skeleton takes an optional value, given after a space
				// as in the AWS CLI.
				if cmd.Flags().Changed("generate-cli-skeleton") && o.GenerateSkeleton == "input" && len(args) > 0 {
					switch args[0] {
					case "input", "output", "yaml-input":
						o.GenerateSkeleton = args[0]
						o.unexpectedOptions = args[1:]
					}
				}
				o.AWS.Stdin = stdio.In
				o.AWS.Stderr = stdio.ErrOut
				return runResync(cmd.Context(), stdio, o)
			},
		}
		f := c.Flags()
		f.StringVar(&o.Input.UserName, "user-name", "", "the name of the user whose MFA device you want to resynchronize")
		f.StringVar(&o.Input.SerialNumber, "serial-number", "", "serial number that uniquely identifies the MFA device")
		f.StringVar(&o.Input.AuthenticationCode1, "authentication-code1", "", "an authentication code emitted by the device")
		f.StringVar(&o.Input.AuthenticationCode2, "authentication-code2", "", "a subsequent authentication code emitted by the device")
		f.StringVar(&o.CLIInputJSON, "cli-input-json", "", "the request as JSON with IAM's member names, or file://PATH; options given override it")
		f.StringVar(&o.GenerateSkeleton, "generate-cli-skeleton", "", "print a request skeleton (input, yaml-input) or validate and print the sample output (output); nothing is sent")
		f.Lookup("generate-cli-skeleton").NoOptDefVal = "input"
		f.BoolVar(&o.Version, "version", false, "print the version and exit")
		o.AWS.AddFlags(f)
		o.Output.AddFlags(f)
		for _, name := range []string{"generate-cli-skeleton", "output", "color"} {
			_ = c.RegisterFlagCompletionFunc(name, fixedCompletion(name))
		}
		return c
	})
}

// fixedCompletion completes the values of flags that take one of a few words.
func fixedCompletion(flag string) cobra.CompletionFunc {
	values := map[string][]string{
		"generate-cli-skeleton": {"input", "yaml-input", "output"},
		"output":                awscfg.OutputFormats,
		"color":                 awscfg.ColorModes,
	}[flag]
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// versionString is what --version prints, in the AWS CLI's form.
func versionString() string {
	return fmt.Sprintf("tokenbatch/%s Go/%s %s/%s", Version, strings.TrimPrefix(runtime.Version(), "go"), runtime.GOOS, runtime.GOARCH)
}

// cliFail prints an AWS-CLI-style message (after an empty line, as the CLI does) and
// returns the exit code as an ExitError whose message is already printed.
func cliFail(stderr io.Writer, code int, msg string) error {
	fmt.Fprintf(stderr, "\n%s\n", msg)
	return &ExitError{Code: code}
}

func cliError(stderr io.Writer, err error, operation string) error {
	e := awscfg.Describe(err, operation)
	return cliFail(stderr, e.Code, e.Message)
}

func runResync(ctx context.Context, stdio IO, o *resyncOptions) error {
	if o.Version {
		fmt.Fprintln(stdio.Out, versionString())
		return nil
	}
	if len(o.unexpectedOptions) > 0 {
		return cliFail(stdio.ErrOut, ExitUsage, "Unknown options: "+strings.Join(o.unexpectedOptions, ", "))
	}
	switch o.GenerateSkeleton {
	case "", "output":
	case "input":
		fmt.Fprint(stdio.Out, resyncSkeletonJSON())
		return nil
	case "yaml-input":
		fmt.Fprint(stdio.Out, resyncSkeletonYAML())
		return nil
	default:
		return cliFail(stdio.ErrOut, ExitUsage, "tokenbatch: error: argument --generate-cli-skeleton: Invalid choice, valid choices are:\n\n"+
			fmt.Sprintf("%-40s | %-40s\n%-40s", "input", "output", "yaml-input"))
	}
	if o.CLIInputJSON != "" {
		if err := o.mergeInputJSON(); err != nil {
			return cliError(stdio.ErrOut, err, "ResyncMFADevice")
		}
	} else {
		var missing []string
		for _, m := range resyncMembers {
			if !o.InputSet[m.Name] {
				missing = append(missing, "--"+m.Flag)
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(stdio.ErrOut, "usage: tokenbatch resync-mfa-device --user-name <value> --serial-number <value> "+
				"--authentication-code1 <value> --authentication-code2 <value>\n"+
				"To see help text, you can run:\n\n  tokenbatch resync-mfa-device --help\n\n")
			return cliFail(stdio.ErrOut, ExitUsage, "tokenbatch: error: the following arguments are required: "+strings.Join(missing, ", "))
		}
	}
	if err := o.Output.Validate(o.AWS.Profile); err != nil {
		return cliError(stdio.ErrOut, err, "ResyncMFADevice")
	}
	if o.AWS.Debug {
		logger := awscfg.NewDebugLogger(stdio.ErrOut)
		awscfg.Debugf(logger, "%s resync-mfa-device: UserName=%q SerialNumber=%q AuthenticationCode1=%s AuthenticationCode2=%s",
			versionString(), o.Input.UserName, o.Input.SerialNumber, awscfg.Redacted, awscfg.Redacted)
	}

	// The AWS CLI's order: the profile, then the parameters, then the region.
	maxAttempts := o.AWS.MaxAttempts(ctx, 3)
	cfg, loadErr := o.AWS.Load(ctx, config.WithRetryer(func() aws.Retryer {
		return retry.AddWithMaxAttempts(resyncRetryer(), maxAttempts)
	}))
	var ae *awscfg.Error
	if loadErr != nil && !errors.Is(loadErr, awscfg.ErrNoRegion) && !(errors.As(loadErr, &ae) && ae.Code == awscfg.ExitUsage) {
		return cliError(stdio.ErrOut, loadErr, "ResyncMFADevice")
	}
	if msgs := o.Input.validate(o.CLIInputJSON != "", o.InputSet); len(msgs) > 0 {
		return cliFail(stdio.ErrOut, ExitUsage, "Parameter validation failed:\n"+strings.Join(msgs, "\n"))
	}
	if o.GenerateSkeleton == "output" {
		// ResyncMFADevice has no output members: the AWS CLI v2 prints nothing.
		return nil
	}
	if loadErr != nil {
		return cliError(stdio.ErrOut, loadErr, "ResyncMFADevice")
	}
	if err := awscfg.Retrieve(ctx, cfg); err != nil {
		if code := SignalExit(ctx); code != 0 {
			return &ExitError{Code: code}
		}
		return cliError(stdio.ErrOut, err, "ResyncMFADevice")
	}
	var attempts awscfg.AttemptCounter
	client := iam.NewFromConfig(cfg, func(o *iam.Options) { o.APIOptions = append(o.APIOptions, attempts.APIOption) })
	out, err := client.ResyncMFADevice(ctx, &iam.ResyncMFADeviceInput{
		UserName:            aws.String(o.Input.UserName),
		SerialNumber:        aws.String(o.Input.SerialNumber),
		AuthenticationCode1: aws.String(o.Input.AuthenticationCode1),
		AuthenticationCode2: aws.String(o.Input.AuthenticationCode2),
	}, executor.ScrubLog(o.Input.AuthenticationCode1, o.Input.AuthenticationCode2))
	if ok, _ := executor.AnsweredOK(err); ok {
		// IAM answered 200 and only the body was lost: the device is resynced.
		out, err = &iam.ResyncMFADeviceOutput{}, nil
	}
	if err != nil {
		if code := SignalExit(ctx); code != 0 {
			return &ExitError{Code: code}
		}
		e := awscfg.DescribeCall(err, "ResyncMFADevice", attempts.Attempts(), maxAttempts)
		// IAM's messages echo submitted values, in forms Redact's patterns may miss.
		return cliFail(stdio.ErrOut, e.Code, report.Scrub(e.Message, o.Input.AuthenticationCode1, o.Input.AuthenticationCode2))
	}
	if err := o.Output.Print(stdio.Out, "ResyncMFADevice", out); err != nil {
		return cliError(stdio.ErrOut, err, "ResyncMFADevice")
	}
	return nil
}

// resyncRetryer retries only what cannot have consumed the codes: throttling (IAM
// refused the request before looking at it) and connections that were never made. A
// resync that reached IAM is never repeated: its codes may be spent. Attempts default to
// 3 as in the AWS CLI v2's standard mode; AWS_MAX_ATTEMPTS and max_attempts override
// (runResync applies them).
func resyncRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Retryables = []retry.IsErrorRetryable{
			retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				var oe *net.OpError
				return aws.BoolTernary(errors.As(err, &oe) && oe.Op == "dial")
			}),
			retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				return retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}.IsErrorThrottle(err)
			}),
		}
	})
}

// resyncSkeletonJSON is what `aws iam resync-mfa-device --generate-cli-skeleton` prints.
func resyncSkeletonJSON() string {
	var b strings.Builder
	b.WriteString("{\n")
	for i, m := range resyncMembers {
		sep := ","
		if i == len(resyncMembers)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %q: \"\"%s\n", m.Name, sep)
	}
	b.WriteString("}\n")
	return b.String()
}

// resyncSkeletonYAML is what `--generate-cli-skeleton yaml-input` prints (the CLI puts
// two spaces before the first comment).
func resyncSkeletonYAML() string {
	var b strings.Builder
	for i, m := range resyncMembers {
		pad := " "
		if i == 0 {
			pad = "  "
		}
		fmt.Fprintf(&b, "%s: ''%s# [REQUIRED] %s\n", m.Name, pad, m.Doc)
	}
	return b.String()
}

// mergeInputJSON reads --cli-input-json (a JSON object or file://PATH) into the members
// not given on the command line, reporting problems with the AWS CLI's messages.
func (o *resyncOptions) mergeInputJSON() error {
	raw := o.CLIInputJSON
	if path, ok := strings.CutPrefix(raw, "file://"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			reason := err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				reason = fmt.Sprintf("[Errno 2] No such file or directory: '%s'", path)
			}
			return &awscfg.Error{Code: ExitUsage, Message: fmt.Sprintf("Error parsing parameter '--cli-input-json': Unable to load paramfile %s: %s", raw, reason)}
		}
		raw = string(b)
	}
	var doc any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		return &awscfg.Error{Code: ExitUsage, Message: "Error parsing parameter 'cli-input-json': Invalid JSON received."}
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return &awscfg.Error{Code: ExitUsage, Message: fmt.Sprintf("Error parsing parameter '--cli-input-json': Invalid type: expecting map, received %s", pyType(doc))}
	}
	var msgs []string
	var unknown []string
	for k := range m {
		if o.Input.field(k) == nil {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	names := make([]string, len(resyncMembers))
	for i, mem := range resyncMembers {
		names[i] = mem.Name
	}
	for _, k := range unknown {
		msgs = append(msgs, fmt.Sprintf("Unknown parameter in input: %q, must be one of: %s", k, strings.Join(names, ", ")))
	}
	for _, mem := range resyncMembers {
		v, present := m[mem.Name]
		if !present || o.InputSet[mem.Name] {
			continue
		}
		s, isString := v.(string)
		if !isString {
			shown := fmt.Sprint(v)
			if mem.Secret {
				shown = awscfg.Redacted
			}
			msgs = append(msgs, fmt.Sprintf("Invalid type for parameter %s, value: %s, type: %s, valid types: <class 'str'>", mem.Name, shown, pyType(v)))
			continue
		}
		*o.Input.field(mem.Name) = s
		o.InputSet[mem.Name] = true
	}
	if len(msgs) > 0 {
		// The CLI reports these with the missing members, in one block.
		for _, mem := range resyncMembers {
			if !o.InputSet[mem.Name] {
				if _, present := m[mem.Name]; !present {
					msgs = append([]string{fmt.Sprintf("Missing required parameter in input: %q", mem.Name)}, msgs...)
				}
			}
		}
		return &awscfg.Error{Code: ExitUsage, Message: "Parameter validation failed:\n" + strings.Join(sortMissingFirst(msgs), "\n")}
	}
	return nil
}

func sortMissingFirst(msgs []string) []string {
	var missing, rest []string
	for _, m := range msgs {
		if strings.HasPrefix(m, "Missing") {
			missing = append(missing, m)
		} else {
			rest = append(rest, m)
		}
	}
	// Missing members in the service model's order.
	sort.SliceStable(missing, func(i, j int) bool { return memberIndex(missing[i]) < memberIndex(missing[j]) })
	return append(missing, rest...)
}

func memberIndex(msg string) int {
	for i, m := range resyncMembers {
		if strings.Contains(msg, `"`+m.Name+`"`) {
			return i
		}
	}
	return len(resyncMembers)
}

// pyType names a JSON value's type as Python does in the AWS CLI's messages.
func pyType(v any) string {
	switch x := v.(type) {
	case nil:
		return "<class 'NoneType'>"
	case bool:
		return "<class 'bool'>"
	case float64:
		if x == float64(int64(x)) {
			return "<class 'int'>"
		}
		return "<class 'float'>"
	case string:
		return "<class 'str'>"
	case []any:
		return "<class 'list'>"
	case map[string]any:
		return "<class 'dict'>"
	}
	return fmt.Sprintf("<class '%T'>", v)
}

// validate checks every IAM constraint of the request. The AWS CLI checks only the
// minimum lengths (its messages are reproduced for those); the others are tokenbatch's.
// Codes are never echoed.
func (in *resyncInput) validate(fromJSON bool, set map[string]bool) []string {
	var msgs []string
	for _, m := range resyncMembers {
		if fromJSON && !set[m.Name] {
			msgs = append(msgs, fmt.Sprintf("Missing required parameter in input: %q", m.Name))
		}
	}
	if len(msgs) > 0 {
		return msgs
	}
	for _, m := range resyncMembers {
		v := *in.field(m.Name)
		var re *plan.RuleError
		if !errors.As(m.Check(v), &re) {
			continue
		}
		// The CLI's wording (botocore's), not plan's: the block reads as the CLI's.
		switch {
		case re.TooShort():
			msgs = append(msgs, fmt.Sprintf("Invalid length for parameter %s, value: %d, valid min length: %d", m.Name, re.Length, re.Min))
		case re.TooLong():
			msgs = append(msgs, fmt.Sprintf("Invalid length for parameter %s, value: %d, valid max length: %d", m.Name, re.Length, re.Max))
		case m.Secret:
			msgs = append(msgs, fmt.Sprintf("Invalid value for parameter %s: must be six digits", m.Name))
		default:
			msgs = append(msgs, fmt.Sprintf("Invalid value for parameter %s, value: %s, valid pattern: %s", m.Name, v, re.Pattern))
		}
	}
	return msgs
}
