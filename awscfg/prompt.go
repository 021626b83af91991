package awscfg

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// PromptError reports that no MFA code could be read for an mfa_serial profile.
type PromptError struct{ Err error }

func (e *PromptError) Error() string {
	return fmt.Sprintf("cannot read the MFA code: %v", e.Err)
}
func (e *PromptError) Unwrap() error { return e.Err }

// PromptTokenProvider returns a stscreds TokenProvider that asks for the MFA code of
// serial as the AWS CLI does ("Enter MFA code for SERIAL: " on stderr) and reads one line
// from in (nil means os.Stdin), without echo when in is a terminal. The code is never
// echoed or logged.
func PromptTokenProvider(in io.Reader, prompt io.Writer, serial string) func() (string, error) {
	if in == nil {
		in = os.Stdin
	}
	return func() (string, error) {
		fmt.Fprintf(prompt, "Enter MFA code for %s: ", serial)
		code, err := readSecretLine(in)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", &PromptError{Err: err}
		}
		if code == "" {
			return "", &PromptError{Err: errors.New("no code was entered")}
		}
		return code, nil
	}
}

func readSecretLine(in io.Reader) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		return strings.TrimSpace(string(b)), err
	}
	// Read byte by byte so that nothing after the line is consumed from a shared stdin.
	var sb strings.Builder
	var b [1]byte
	for {
		n, err := in.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			sb.WriteByte(b[0])
		}
		if err == io.EOF {
			if sb.Len() == 0 {
				return "", errors.New("end of input")
			}
			break
		}
		if err != nil {
			return "", err
		}
	}
	return strings.TrimSpace(sb.String()), nil
}
