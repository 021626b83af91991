// Package commands holds tokenbatch's command line: one file per command, each with an
// options struct and a run function that tests can call directly. cmd/tokenbatch only
// calls Main.
//
// Exit codes follow the AWS CLI v2 where meanings overlap:
//
//	0   success (for batch commands: every device succeeded)
//	1   a batch ran, and some device did not succeed
//	130 interrupted by SIGINT; 143 by SIGTERM
//	252 bad arguments, or a manifest or plan with errors (nothing was sent)
//	253 configuration or credentials
//	254 the service returned an error (single-device commands)
//	255 anything else
package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes. See the package comment.
const (
	ExitOK         = 0
	ExitIncomplete = 1
	ExitSIGINT     = 130
	ExitSIGTERM    = 143
	ExitUsage      = 252
	ExitConfig     = 253
	ExitService    = 254
	ExitOther      = 255
)

// ExitError carries a process exit code with an error. A nil Err means the message was
// already printed.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// exitf returns an ExitError with a formatted message.
func exitf(code int, format string, args ...any) error {
	return &ExitError{Code: code, Err: fmt.Errorf(format, args...)}
}

// IO is where a command reads and writes; tests supply their own.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Version is set at build time with -ldflags "-X github.com/tokenbatch/tokenbatch/commands.Version=...".
var Version = "dev"

// NewRoot builds the command tree.
func NewRoot(stdio IO) *cobra.Command {
	root := &cobra.Command{
		Use:           "tokenbatch",
		Short:         "Resync, provision and audit AWS IAM MFA devices in bulk",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nsee '%s --help'", err, c.CommandPath())}
	})
	for _, add := range registry {
		root.AddCommand(add(stdio))
	}
	return root
}

// registry lists the top-level commands; each file adds its own in an init function, so
// commands do not have to edit this file.
var registry []func(IO) *cobra.Command

func register(f func(IO) *cobra.Command) { registry = append(registry, f) }

// Main runs tokenbatch with args and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	ctx, stop := signalContext(context.Background())
	defer stop()
	root := NewRoot(IO{In: in, Out: out, ErrOut: errOut})
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return exitCode(err, errOut)
}

func exitCode(err error, errOut io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(errOut, "tokenbatch: %v\n", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(errOut, "tokenbatch: %v\n", err)
	if isUsageError(err) {
		return ExitUsage
	}
	return ExitOther
}

// isUsageError recognises cobra's argument errors, which are plain errors.
func isUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "required flag", "accepts ", "requires ", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM. The signal is
// available through SignalFrom. A second signal exits the process at once.
func signalContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(&signalError{sig: s})
		case <-done:
			return
		}
		select {
		case s := <-ch:
			os.Exit(signalExitCode(s))
		case <-done:
		}
	}()
	return ctx, func() { signal.Stop(ch); close(done); cancel(nil) }
}

type signalError struct{ sig os.Signal }

func (e *signalError) Error() string { return "interrupted by " + e.sig.String() }

// SignalExit returns the exit code for the signal that cancelled ctx, or 0 if none did.
func SignalExit(ctx context.Context) int {
	var se *signalError
	if errors.As(context.Cause(ctx), &se) {
		return signalExitCode(se.sig)
	}
	return 0
}

func signalExitCode(s os.Signal) int {
	if s == syscall.SIGTERM {
		return ExitSIGTERM
	}
	return ExitSIGINT
}
