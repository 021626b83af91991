package commands

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenbatch/tokenbatch/iamsim"
)

// simManifestOptions are the flags of `tokenbatch sim manifest`.
type simManifestOptions struct {
	Fleet  string
	At     string
	Output string
}

func init() {
	simRegistry = append(simRegistry, func(stdio IO) *cobra.Command {
		o := &simManifestOptions{}
		c := &cobra.Command{
			Use:   "manifest --fleet FILE [--at TIME]",
			Short: "Print the CSV manifest the fleet's tokens show at a time",
			Long: `Print user_name,serial_number,authentication_code1,authentication_code2 for every
assigned device of the fleet: the codes of the token's steps T-1 and T, where T is the step
of --at plus the token's drift. The output holds authentication codes: it is test data for
the simulator, and --output files are created 0600.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runSimManifest(cmd.Context(), stdio, o)
			},
		}
		c.Flags().StringVar(&o.Fleet, "fleet", "", "fleet file (JSON)")
		c.Flags().StringVar(&o.At, "at", "now", "time: now, RFC 3339, or +/-DURATION from now (e.g. +30s)")
		c.Flags().StringVarP(&o.Output, "output", "o", "", "write to this file (0600) instead of stdout")
		return c
	})
}

func runSimManifest(_ context.Context, stdio IO, o *simManifestOptions) error {
	if o.Fleet == "" {
		return exitf(ExitUsage, "sim manifest needs --fleet FILE")
	}
	at, err := iamsim.ParseTimeSpec(o.At, time.Now())
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--at: %w", err)}
	}
	fleet, err := iamsim.LoadFleet(o.Fleet)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return writeTo(stdio.Out, o.Output, func(w io.Writer) error { return iamsim.WriteManifest(w, fleet, at) })
}

// writeTo runs write on out, or on a new 0600 file when path is set (the output holds
// codes or seeds).
func writeTo(out io.Writer, path string, write func(io.Writer) error) error {
	if path == "" {
		if err := write(out); err != nil {
			return exitf(ExitOther, "write: %v", err)
		}
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return exitf(ExitOther, "create %s: %v", path, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		f.Close()
		return exitf(ExitOther, "write %s: %v", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return exitf(ExitOther, "write %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		return exitf(ExitOther, "write %s: %v", path, err)
	}
	return nil
}
