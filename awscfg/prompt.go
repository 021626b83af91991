package awscfg

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tokenbatch/tokenbatch/internal/secret"
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
	// The prompt goes out for a piped code too, as the AWS CLI writes it.
	p := secret.Prompter{In: in, Out: prompt, Line: true, LinePrompt: true}
	return func() (string, error) {
		b, err := p.Read(fmt.Sprintf("Enter MFA code for %s: ", serial))
		if err != nil {
			return "", &PromptError{Err: err}
		}
		code := strings.TrimSpace(string(b))
		clear(b)
		if code == "" {
			return "", &PromptError{Err: errors.New("no code was entered")}
		}
		return code, nil
	}
}
