package commands

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tokenbatch/tokenbatch/awscfg"
)

type runOptions struct {
	planOptions
	batchOptions
	AWS awscfg.Options
}

func init() {
	register(func(stdio IO) *cobra.Command {
		o := &runOptions{}
		c := &cobra.Command{
			Use:   "run (--manifest FILE | --from-tokens | --from-tpm)",
			Short: "Plan a manifest, then resync its devices (plan and apply in one step)",
			Long: `Validate a CSV manifest as 'tokenbatch plan' does (nothing is sent when a row has an
error, unless --skip-invalid), then resync its devices as 'tokenbatch apply' does:
rate limited, retried, reported device by device in the report directory, with a
journal that --resume uses to finish an interrupted run without resyncing any device
twice. See docs/batch.md.

--from-tokens resyncs the devices found on the attached YubiKeys, --from-tpm those in
the TPM store; the plan is printed, then each device's codes are read from its token
when its turn comes, for IAM's current time step (no waiting for the next window).

Exit status: 0 every device succeeded; 1 some device did not; 130/143 interrupted;
252 bad arguments, or a manifest with errors (nothing was sent); 253 configuration or
credentials (also when credentials expire mid-run); 255 anything else.`,
			Example: `  tokenbatch run --manifest devices.csv
  tokenbatch run --manifest devices.csv --rate 20 --report-dir reports/change-1234
  tokenbatch run --manifest devices.csv --resume reports/change-1234
  tokenbatch run --from-tokens --report-dir reports/change-1234
  tokenbatch run --from-tpm --tpm-key-auth`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				o.AWS.Stdin = stdio.In
				o.AWS.Stderr = stdio.ErrOut
				return runRun(cmd.Context(), stdio, o)
			},
		}
		f := c.Flags()
		o.planOptions.addFlags(f)
		o.batchOptions.addFlags(f)
		o.AWS.AddFlags(f)
		return c
	})
}

// runRun is `tokenbatch run`: plan, then apply.
func runRun(ctx context.Context, stdio IO, o *runOptions) error {
	if err := o.batchOptions.validate(); err != nil {
		return err
	}
	o.Offline = false
	p, src, err := o.build(ctx, &o.AWS, stdio, true)
	if err != nil {
		return err
	}
	if src != nil {
		defer src.Close()
		o.batchOptions.Codes = src
	}
	if o.Tokens.any() {
		// Which devices the tokens hold is news to the operator, unlike a manifest's rows.
		if err := printPlan(stdio.Out, p, o.Output); err != nil {
			return &ExitError{Code: ExitOther, Err: err}
		}
	}
	if o.Out != "" {
		if err := p.Save(o.Out); err != nil {
			return &ExitError{Code: ExitOther, Err: fmt.Errorf("saving the plan: %w", err)}
		}
	}
	return executeBatch(ctx, stdio, &o.AWS, &o.batchOptions, p, o.SkipInvalid)
}
