package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/tokenbatch/tokenbatch/internal/secret"
	"github.com/tokenbatch/tokenbatch/pcsc"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/ykoath"
	"github.com/tokenbatch/tokenbatch/yubikey"
)

// yubikeyOptions are the flags that select and read YubiKeys, shared by `tokens list`
// and by `plan`/`run --from-tokens`.
type yubikeyOptions struct {
	Devices             []string
	AllowVirtualReaders bool
	AttestationRoots    string
	OATHPassword        string
	Mapping             string
	TouchTimeout        float64 // seconds
}

// oathPasswordEnv lets scripts give the OATH password without it showing in ps.
const oathPasswordEnv = "TOKENBATCH_OATH_PASSWORD"

func (o *yubikeyOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.Devices, "device", nil, "use only the YubiKey with this serial (repeatable; default: every attached key)")
	fs.BoolVar(&o.AllowVirtualReaders, "allow-virtual-readers", false, "also use keys in readers of virtual smart-card drivers (vpcd; tests and demos)")
	fs.StringVar(&o.AttestationRoots, "attestation-roots", "", "PEM file of CA certificates to verify PIV attestations with (default: Yubico's roots)")
	fs.StringVar(&o.OATHPassword, "oath-password", "", "password of password-protected OATH applets (default: $"+oathPasswordEnv+", else asked on the terminal)")
	fs.StringVar(&o.Mapping, "mapping", "", "CSV file token_serial,credential,user_name,serial_number mapping credentials to IAM devices (overrides names)")
	fs.Float64Var(&o.TouchTimeout, "touch-timeout", 15, "seconds to wait for a touch of a touch-required credential")
}

// options turns the flags into yubikey.Options. Touch prompts and the password prompt go
// to stdio.ErrOut.
func (o *yubikeyOptions) options(stdio IO) (yubikey.Options, error) {
	opts := yubikey.Options{
		Devices:             o.Devices,
		AllowVirtualReaders: o.AllowVirtualReaders,
		Prompt:              stdio.ErrOut,
		TouchTimeout:        time.Duration(o.TouchTimeout * float64(time.Second)),
	}
	if o.TouchTimeout <= 0 {
		return opts, exitf(ExitUsage, "--touch-timeout %g: must be positive", o.TouchTimeout)
	}
	if o.AttestationRoots != "" {
		roots, err := yubikey.LoadRoots(o.AttestationRoots)
		if err != nil {
			return opts, &ExitError{Code: ExitUsage, Err: err}
		}
		opts.AttestationRoots = roots
	}
	if o.Mapping != "" {
		m, err := yubikey.LoadMappingFile(o.Mapping)
		if err != nil {
			return opts, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--mapping: %w", err)}
		}
		opts.Mapping = m
	}
	switch pw := o.OATHPassword; {
	case pw != "":
		opts.Password = yubikey.StaticPassword(pw)
	case os.Getenv(oathPasswordEnv) != "":
		opts.Password = yubikey.StaticPassword(os.Getenv(oathPasswordEnv))
	default:
		opts.Password = terminalPassword(stdio)
	}
	return opts, nil
}

// terminalPassword asks for an OATH password on the terminal, without echo, once per
// key. Without a terminal the key is reported as needing --oath-password.
func terminalPassword(stdio IO) yubikey.PasswordFunc {
	var mu sync.Mutex // keys are read in parallel; one prompt at a time
	p := secret.Prompter{In: stdio.In, Out: stdio.ErrOut}
	return func(ctx context.Context, serial string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		pw, err := p.Read(fmt.Sprintf("OATH password for YubiKey %s: ", serial))
		if errors.Is(err, secret.ErrNoTerminal) {
			return nil, yubikey.ErrPasswordNeeded
		}
		if err != nil {
			return nil, fmt.Errorf("reading the oath password: %w", err)
		}
		return pw, nil
	}
}

// yubikeyExit gives errors of the yubikey packages their exit code and hint.
func yubikeyExit(err error) error {
	var ee *ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return err
	case errors.Is(err, pcsc.ErrNotBuilt):
		return &ExitError{Code: ExitConfig, Err: pcsc.ErrNotBuilt}
	case errors.Is(err, pcsc.ErrNoService):
		return &ExitError{Code: ExitConfig, Err: fmt.Errorf("%w; start it (e.g. 'pcscd -f' or 'systemctl start pcscd.socket')", pcsc.ErrNoService)}
	case errors.Is(err, yubikey.ErrNoKeys), errors.Is(err, yubikey.ErrKeyNotFound):
		return &ExitError{Code: ExitUsage, Err: err}
	case errors.Is(err, ykoath.ErrWrongPassword), errors.Is(err, yubikey.ErrPasswordNeeded):
		return &ExitError{Code: ExitConfig, Err: err}
	}
	return &ExitError{Code: ExitOther, Err: err}
}

// discoverYubiKeys is `--from-tokens` for plan and run: it reads the attached keys,
// maps their credentials to IAM devices, prints the problems on stderr, and returns the
// devices and the code source for the executor (the caller closes it). accountID is the
// credentials' account (STS GetCallerIdentity).
func discoverYubiKeys(ctx context.Context, stdio IO, o *yubikeyOptions, client yubikey.IAMAPI, accountID string) ([]plan.Device, *yubikey.Source, []plan.Problem, error) {
	opts, err := o.options(stdio)
	if err != nil {
		return nil, nil, nil, err
	}
	opts.AccountID = accountID
	devices, src, problems, err := yubikey.Discover(ctx, opts, client)
	if err != nil {
		return nil, nil, nil, yubikeyExit(err)
	}
	for _, p := range problems {
		fmt.Fprintf(stdio.ErrOut, "tokenbatch: %s\n", p.String())
	}
	return devices, src, problems, nil
}
