package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/vyubikey"
)

// simYubiKeyOptions are the flags of `tokenbatch sim yubikey`.
type simYubiKeyOptions struct {
	Fleet         string
	Serial        uint32
	ReaderPort    int
	Password      string
	Touch         bool
	TouchAfter    time.Duration
	Devices       []string
	UseAlias      bool
	Skip, Limit   int
	AttestationCA string

	// ready is called once the key is in the reader (tests).
	ready func(*vyubikey.Key)
}

func init() {
	simRegistry = append(simRegistry, func(stdio IO) *cobra.Command {
		o := &simYubiKeyOptions{}
		c := &cobra.Command{
			Use:   "yubikey --fleet FILE [--serial N] [--reader-port 35963|35964]",
			Short: "Plug a virtual YubiKey 5 holding a fleet's virtual MFA seeds into vpcd (tests, demo)",
			Long: `Connect a virtual YubiKey 5 to vsmartcard's vpcd driver under the running pcscd, so
that tokenbatch, ykman and piv-go see it in reader "Virtual PCD 00 00" (port 35963) or
"Virtual PCD 00 01" (port 35964). It answers the Management, OATH and PIV applets, and
holds the fleet's assigned virtual MFA devices (or those given with --device) as OATH
credentials named as AWS's QR code names them: "Amazon Web Services:DEVICE@ACCOUNT".
Its PIV attestation is signed by a test CA kept in --attestation-ca (created when
missing); give that file to --attestation-roots. Runs until SIGINT or SIGTERM.`,
			Example: `  tokenbatch sim yubikey --fleet samples/fleet.json --serial 11111111 --limit 12
  tokenbatch sim yubikey --fleet samples/fleet.json --serial 22222222 --skip 12 --reader-port 35964 --password secret`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runSimYubiKey(cmd.Context(), stdio, o)
			},
		}
		f := c.Flags()
		f.StringVar(&o.Fleet, "fleet", "", "fleet file (JSON, see docs/simulator.md)")
		f.Uint32Var(&o.Serial, "serial", 10000001, "the key's serial number")
		f.IntVar(&o.ReaderPort, "reader-port", vyubikey.Port0, "vpcd port: 35963 (Virtual PCD 00 00) or 35964 (Virtual PCD 00 01)")
		f.StringVar(&o.Password, "password", "", "protect the OATH applet with this password")
		f.BoolVar(&o.Touch, "touch", false, "make every credential require a touch")
		f.DurationVar(&o.TouchAfter, "touch-after", 500*time.Millisecond, "with --touch, the simulated touch comes after this long; negative: never (the key times out after 15s)")
		f.StringArrayVar(&o.Devices, "device", nil, "load only this fleet device (serial ARN or user name; repeatable)")
		f.BoolVar(&o.UseAlias, "alias", false, "name the account by its alias in credential names, not its 12-digit id")
		f.IntVar(&o.Skip, "skip", 0, "skip the first N selected devices (split a fleet over two keys)")
		f.IntVar(&o.Limit, "limit", 0, "load at most N devices (0: all; a YubiKey holds at most 64 credentials)")
		f.StringVar(&o.AttestationCA, "attestation-ca", "tokenbatch-test-ca.pem", "test attestation CA certificate (its key beside it as FILE.key); created if missing")
		return c
	})
}

// runSimYubiKey is `tokenbatch sim yubikey`.
func runSimYubiKey(ctx context.Context, stdio IO, o *simYubiKeyOptions) error {
	if o.Fleet == "" {
		return exitf(ExitUsage, "--fleet is required\nsee 'tokenbatch sim yubikey --help'")
	}
	if o.ReaderPort != vyubikey.Port0 && o.ReaderPort != vyubikey.Port1 {
		return exitf(ExitUsage, "--reader-port %d: vpcd listens on %d and %d", o.ReaderPort, vyubikey.Port0, vyubikey.Port1)
	}
	if o.Skip < 0 || o.Limit < 0 {
		return exitf(ExitUsage, "--skip and --limit must not be negative")
	}
	fleet, err := iamsim.LoadFleet(o.Fleet)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	creds, err := vyubikey.FleetCredentials(fleet, vyubikey.FleetSelection{Devices: o.Devices, UseAlias: o.UseAlias,
		Touch: o.Touch, Skip: o.Skip, Limit: o.Limit})
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: %w", o.Fleet, err)}
	}
	if len(creds) > 64 {
		return exitf(ExitUsage, "%d devices selected: a YubiKey holds at most 64 credentials; use --limit and --skip", len(creds))
	}
	ca, err := vyubikey.LoadOrCreateCA(o.AttestationCA)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--attestation-ca: %w", err)}
	}
	cfg := vyubikey.Config{Serial: o.Serial, Password: o.Password, Credentials: creds, CA: ca, TouchAfter: o.TouchAfter}
	k, err := vyubikey.Start(ctx, o.ReaderPort, cfg)
	if err != nil {
		if errors.Is(err, vyubikey.ErrNoDriver) {
			return &ExitError{Code: ExitConfig, Err: fmt.Errorf("%w\nis pcscd running, with /etc/reader.conf.d/vpcd?", err)}
		}
		return &ExitError{Code: ExitOther, Err: err}
	}
	defer k.Close()
	fmt.Fprintf(stdio.Out, "virtual YubiKey %s in reader %q with %d credentials; attestation root %s\n",
		strconv.FormatUint(uint64(o.Serial), 10), k.Reader(), len(creds), o.AttestationCA)
	if o.ready != nil {
		o.ready(k)
	}
	// A signal is the normal way to stop a simulator, as for `sim serve`.
	select {
	case <-ctx.Done():
	case <-k.Done():
	}
	st := k.Stats()
	fmt.Fprintf(stdio.ErrOut, "sim: virtual YubiKey %d removed (%d CALCULATE ALL, %d CALCULATE)\n", o.Serial, st.CalculateAll, st.Calculate)
	return nil
}
