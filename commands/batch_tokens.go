package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/spf13/pflag"

	"github.com/tokenbatch/tokenbatch/awscfg"
	"github.com/tokenbatch/tokenbatch/executor"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/tpmtoken"
	"github.com/tokenbatch/tokenbatch/yubikey"
)

// tokenFlags are --from-tokens and --from-tpm of plan and run, with the flags of the
// sources they read. apply takes the source flags only: its plan says which it needs.
type tokenFlags struct {
	FromTokens bool
	FromTPM    bool
	YubiKey    yubikeyOptions
	TPM        tpmOptions
}

func (o *tokenFlags) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.FromTokens, "from-tokens", false, "resync the IAM devices of the OATH credentials on the attached YubiKeys (codes read when each device's turn comes)")
	fs.BoolVar(&o.FromTPM, "from-tpm", false, "resync the devices whose keys are in the TPM store (codes computed by the TPM when each device's turn comes)")
	o.addSourceFlags(fs)
}

func (o *tokenFlags) addSourceFlags(fs *pflag.FlagSet) {
	o.YubiKey.addFlags(fs)
	o.TPM.addFlags(fs)
}

// any reports whether the devices come from tokens rather than a manifest.
func (o *tokenFlags) any() bool { return o.FromTokens || o.FromTPM }

// what names the source in messages.
func (o *tokenFlags) what() string {
	if o.FromTPM {
		return "the TPM store"
	}
	return "the attached YubiKeys"
}

// tokenSource gives the codes of a plan's token devices, YubiKey or TPM; it is the
// executor's CodeSource and tells it which devices need a touch.
type tokenSource struct {
	yk  *yubikey.Source
	tpm *tpmtoken.Source
}

var _ executor.CodeSource = (*tokenSource)(nil)

func (s *tokenSource) Codes(ctx context.Context, d plan.Device, now time.Time) (string, string, error) {
	switch {
	case d.Token == nil:
		return "", "", errors.New("device has no token")
	case d.Token.Kind == tpmtoken.TokenKind && s.tpm != nil:
		return s.tpm.Codes(ctx, d, now)
	case d.Token.Kind == "yubikey" && s.yk != nil:
		return s.yk.Codes(ctx, d, now)
	}
	return "", "", fmt.Errorf("no %s source is open for this device", d.Token.Kind)
}

func (s *tokenSource) NeedsTouch(d plan.Device) bool {
	return s.yk != nil && d.Token != nil && d.Token.Kind == "yubikey" && s.yk.NeedsTouch(d)
}

func (s *tokenSource) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	if s.yk != nil {
		errs = append(errs, s.yk.Close())
	}
	if s.tpm != nil {
		errs = append(errs, s.tpm.Close())
	}
	return errors.Join(errs...)
}

// checkSource checks that exactly one of --manifest, --from-tokens and --from-tpm is
// given.
func (o *planOptions) checkSource() error {
	n := 0
	for _, given := range []bool{o.Manifest != "", o.Tokens.FromTokens, o.Tokens.FromTPM} {
		if given {
			n++
		}
	}
	switch {
	case n > 1:
		return exitf(ExitUsage, "--manifest, --from-tokens and --from-tpm are mutually exclusive; give one")
	case n == 0:
		return exitf(ExitUsage, "--manifest is required (or --from-tokens, or --from-tpm)\nsee 'tokenbatch plan --help'")
	case o.Tokens.FromTokens && o.Offline:
		return exitf(ExitUsage, "--from-tokens maps credentials to devices with IAM, so it cannot be used with --offline")
	}
	return nil
}

// build is the plan of plan and run: from the manifest, or from tokens. With
// forRun, a token plan comes with its open code source (the caller closes it).
func (o *planOptions) build(ctx context.Context, awsOpts *awscfg.Options, stdio IO, forRun bool) (*plan.Plan, *tokenSource, error) {
	if err := o.checkSource(); err != nil {
		return nil, nil, err
	}
	if !o.Tokens.any() {
		p, err := o.buildPlan(ctx, awsOpts, stdio)
		return p, nil, err
	}
	p, src, err := o.buildTokenPlan(ctx, awsOpts, stdio, forRun)
	if err != nil && src != nil {
		src.Close()
		src = nil
	}
	return p, src, err
}

// buildTokenPlan is the plan of --from-tokens or --from-tpm: the credentials'
// account from STS, the devices the tokens hold (problems on stderr), checked and
// ordered as manifest rows are. Codes are read later, when each device's turn comes.
func (o *planOptions) buildTokenPlan(ctx context.Context, awsOpts *awscfg.Options, stdio IO, forRun bool) (*plan.Plan, *tokenSource, error) {
	switch {
	case !slices.Contains(planFormats, o.Output):
		return nil, nil, exitf(ExitUsage, "--output %q: want table, json or text", o.Output)
	case o.Offline && o.CheckIAM:
		return nil, nil, exitf(ExitUsage, "--check-iam asks IAM, so it cannot be used with --offline")
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	opts := plan.Options{MaxCodeAge: o.MaxCodeAge, Now: now}
	var client *iam.Client
	if !o.Offline {
		cfg, err := awsOpts.Load(ctx)
		if err != nil {
			return nil, nil, planAWSExit(err, "")
		}
		if opts.AccountID, opts.Partition, err = planCallerAccount(ctx, cfg); err != nil {
			return nil, nil, err
		}
		client = iam.NewFromConfig(cfg, func(o *iam.Options) { o.Retryer = awscfg.ReadRetryer() })
		if o.CheckIAM {
			opts.CheckIAM, opts.IAM = true, client
		}
	}

	src := &tokenSource{}
	var devices []plan.Device
	var err error
	if o.Tokens.FromTokens {
		devices, src.yk, _, err = discoverYubiKeys(ctx, stdio, &o.Tokens.YubiKey, client, opts.AccountID)
		if err != nil {
			return nil, nil, err
		}
		if !forRun {
			src.Close() // plan only lists the devices; the keys are read again by run
			src = nil
		}
	} else {
		if devices, err = o.Tokens.TPM.tpmDevices(); err != nil {
			return nil, nil, err
		}
		src = nil
	}

	p, err := plan.FromDevices(ctx, devices, opts)
	if err != nil {
		src.Close()
		if errors.Is(err, plan.ErrIAMCheck) {
			d := awscfg.Describe(err, "")
			return nil, nil, &ExitError{Code: d.Code, Err: fmt.Errorf("--check-iam: %s", d.Message)}
		}
		if code := SignalExit(ctx); code != 0 {
			return nil, nil, &ExitError{Code: code, Err: ctx.Err()}
		}
		return nil, nil, &ExitError{Code: ExitOther, Err: err}
	}
	printPlanProblems(stdio.ErrOut, p)
	if err := o.checkPlan(p); err != nil {
		src.Close()
		return p, nil, err
	}
	if forRun && o.Tokens.FromTPM {
		// Opened after the plan is known to be good, so the authValue prompt comes last.
		t, err := o.Tokens.TPM.tpmSource(stdio)
		if err != nil {
			return p, nil, err
		}
		src = &tokenSource{tpm: t}
	}
	return p, src, nil
}

// openPlanSources opens what a saved plan's token devices need (apply): the attached
// YubiKeys and/or the TPM. It returns nil for a plan of manifest rows.
func (o *tokenFlags) openPlanSources(ctx context.Context, stdio IO, p *plan.Plan) (*tokenSource, error) {
	kinds := map[string]bool{}
	for i := range p.Len() {
		if d := p.Device(i); d.Token != nil {
			kinds[d.Token.Kind] = true
		}
	}
	if len(kinds) == 0 {
		return nil, nil
	}
	src := &tokenSource{}
	for kind := range kinds {
		switch kind {
		case "yubikey":
			opts, err := o.YubiKey.options(stdio)
			if err != nil {
				src.Close()
				return nil, err
			}
			keys, keyErrs, err := yubikey.ListKeys(ctx, opts)
			if err != nil {
				src.Close()
				return nil, yubikeyExit(err)
			}
			for _, e := range keyErrs {
				fmt.Fprintf(stdio.ErrOut, "tokenbatch: %v\n", e)
			}
			src.yk = yubikey.NewSource(keys, opts)
		case tpmtoken.TokenKind:
			t, err := o.TPM.tpmSource(stdio)
			if err != nil {
				src.Close()
				return nil, err
			}
			src.tpm = t
		default:
			src.Close()
			return nil, exitf(ExitUsage, "the plan has devices of token kind %q, which this tokenbatch cannot read; nothing was sent", kind)
		}
	}
	return src, nil
}
