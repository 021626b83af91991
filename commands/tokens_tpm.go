package commands

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
	"github.com/spf13/pflag"

	"github.com/tokenbatch/tokenbatch/internal/secret"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/tpmtoken"
)

// tpmOptions are the flags of every command that uses TPM-held devices:
// tokens provision-tpm and import-tpm here, and plan/run --from-tpm.
type tpmOptions struct {
	Device  string // --tpm: "" (/dev/tpmrm0), a device path, tcp://HOST:PORT or unix:PATH
	Store   string // --tpm-store: "" for the default
	KeyAuth bool   // --tpm-key-auth: prompt for the keys' authValue

	// readSecret reads the authValue; nil reads from the terminal. Tests set it.
	readSecret func(prompt string) ([]byte, error)
}

func (o *tpmOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Device, "tpm", "", "the TPM: a device (default "+tpmtoken.DefaultDevice+"), tcp://HOST:PORT or unix:PATH (swtpm)")
	o.addStoreFlag(fs)
	fs.BoolVar(&o.KeyAuth, "tpm-key-auth", false, "protect the TPM key with an authValue, or give it (prompted for, never echoed)")
}

func (o *tpmOptions) addStoreFlag(fs *pflag.FlagSet) {
	fs.StringVar(&o.Store, "tpm-store", "", "directory of TPM-wrapped keys (default $XDG_DATA_HOME/tokenbatch/tpm)")
}

// tpmDevices is the device list of `--from-tpm`: every device in the store.
func (o *tpmOptions) tpmDevices() ([]plan.Device, error) {
	devs, err := tpmtoken.Devices(o.Store)
	if err != nil {
		return nil, tpmExit(err)
	}
	return devs, nil
}

// tpmSource returns the executor.CodeSource of `--from-tpm`. With --tpm-key-auth it
// asks for the authValue now, before the run, and uses it for every key that needs
// one; without, such keys fail with a hint. The caller closes it after the run.
func (o *tpmOptions) tpmSource(stdio IO) (*tpmtoken.Source, error) {
	st, err := tpmtoken.OpenStore(o.Store, false)
	if err != nil {
		return nil, tpmExit(err)
	}
	var auth tpmtoken.AuthFunc
	if o.KeyAuth {
		a, err := o.secret(stdio, "TPM key authValue: ", false, true)
		if err != nil {
			return nil, tpmExit(err)
		}
		auth = func(tpmtoken.Entry) ([]byte, error) { return a, nil }
	}
	return tpmtoken.NewSource(st, o.Device, auth), nil
}

// secret reads an authValue: from the terminal without echo if there is one, else
// a line of standard input if it is free, else from /dev/tty. confirm asks twice.
func (o *tpmOptions) secret(stdio IO, prompt string, confirm, stdinFree bool) ([]byte, error) {
	read := o.readSecret
	if read == nil {
		read = func(prompt string) ([]byte, error) { return readSecret(stdio, prompt, stdinFree) }
	}
	a, err := read(prompt)
	if err != nil {
		return nil, err
	}
	if len(a) == 0 {
		return nil, exitf(ExitUsage, "the authValue is empty; type one, or leave out --tpm-key-auth")
	}
	if confirm && o.readSecret == nil && secret.IsTerminal(stdio.In) {
		b, err := read("Again: ")
		if err != nil {
			clear(a)
			return nil, err
		}
		same := bytes.Equal(a, b)
		clear(b)
		if !same {
			clear(a)
			return nil, exitf(ExitUsage, "the authValues do not match; try again")
		}
	}
	return a, nil
}

func readSecret(stdio IO, prompt string, stdinFree bool) ([]byte, error) {
	// No prompt before a piped authValue: nobody is there to read it.
	p := secret.Prompter{In: stdio.In, Out: stdio.ErrOut, Line: stdinFree && stdio.In != nil, TTY: true}
	b, err := p.Read(prompt)
	switch {
	case errors.Is(err, secret.ErrEndOfInput):
		return nil, nil // reported as an empty authValue
	case errors.Is(err, secret.ErrNoTerminal):
		return nil, exitf(ExitUsage, "--tpm-key-auth needs a terminal to prompt on, or the authValue on standard input")
	case err != nil:
		return nil, fmt.Errorf("reading the authValue: %w", err)
	}
	return b, nil
}

// tpmExit gives tpmtoken's errors their exit codes.
func tpmExit(err error) error {
	var ee *ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return err
	case errors.Is(err, tpmtoken.ErrSeed), errors.Is(err, tpmtoken.ErrAddress), errors.Is(err, tpmtoken.ErrExists),
		errors.Is(err, tpmtoken.ErrNotFound):
		return &ExitError{Code: ExitUsage, Err: err}
	case errors.Is(err, tpmtoken.ErrStore):
		return &ExitError{Code: ExitConfig, Err: err}
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return &ExitError{Code: ExitService, Err: err}
	}
	return &ExitError{Code: ExitOther, Err: err}
}
