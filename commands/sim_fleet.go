package commands

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/tokenbatch/tokenbatch/iamsim"
)

// simFleetOptions are the flags of `tokenbatch sim fleet`.
type simFleetOptions struct {
	Devices int
	Seed    int64
	Output  string
}

func init() {
	simRegistry = append(simRegistry, func(stdio IO) *cobra.Command {
		o := &simFleetOptions{}
		c := &cobra.Command{
			Use:   "fleet --devices N [--seed S]",
			Short: "Print a generated fleet of N users and devices (deterministic for a seed)",
			Long: `Print a fleet file with N users, each with one assigned virtual MFA device whose token
drifts -5..+5 steps, and the example access key AKIAIOSFODNN7EXAMPLE. The same seed always
gives the same fleet. The output holds (fake) TOTP seeds; --output files are created 0600.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runSimFleet(cmd.Context(), stdio, o)
			},
		}
		c.Flags().IntVar(&o.Devices, "devices", 0, "number of users and devices")
		c.Flags().Int64Var(&o.Seed, "seed", 1, "generator seed")
		c.Flags().StringVarP(&o.Output, "output", "o", "", "write to this file (0600) instead of stdout")
		return c
	})
}

func runSimFleet(_ context.Context, stdio IO, o *simFleetOptions) error {
	if o.Devices < 1 || o.Devices > 10_000_000 {
		return exitf(ExitUsage, "--devices %d must be between 1 and 10000000", o.Devices)
	}
	f := iamsim.GenerateFleet(o.Devices, o.Seed)
	return writeTo(stdio.Out, o.Output, func(w io.Writer) error { return iamsim.WriteFleet(w, f) })
}
