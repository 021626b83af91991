package awscfg

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go/logging"
)

// Redacted replaces every secret in --debug output.
const Redacted = "<redacted>"

// secretNames are the IAM, STS and SSO members whose values are secrets: authentication
// codes, MFA seeds, secret keys and session tokens.
var secretNames = []string{
	"AuthenticationCode1", "AuthenticationCode2", "TokenCode",
	"Base32StringSeed", "QRCodePNG",
	"SecretAccessKey", "SessionToken", "accessToken", "refreshToken", "clientSecret",
	"secretAccessKey", "sessionToken",
}

var redactions = func() []struct {
	re   *regexp.Regexp
	repl string
} {
	names := strings.Join(secretNames, "|")
	type r = struct {
		re   *regexp.Regexp
		repl string
	}
	return []r{
		// Query protocol: form bodies and query strings.
		{regexp.MustCompile(`(?i)\b(` + names + `)=[^&\s"]*`), "${1}=" + Redacted},
		// XML responses.
		{regexp.MustCompile(`(?is)<(` + names + `)>.*?</(` + names + `)>`), "<${1}>" + Redacted + "</${2}>"},
		// JSON (SSO, --cli-input-json, skeletons).
		{regexp.MustCompile(`(?i)"(` + names + `)"(\s*:\s*)"(?:[^"\\]|\\.)*"`), `"${1}"${2}"` + Redacted + `"`},
		// Python-style dicts, as the AWS CLI's own debug log prints them.
		{regexp.MustCompile(`(?i)'(` + names + `)'(\s*:\s*)'[^']*'`), `'${1}'${2}'` + Redacted + `'`},
		// SigV4: the signature proves knowledge of the secret key.
		{regexp.MustCompile(`(?i)\b(Signature=)[0-9a-f]+`), "${1}" + Redacted},
		{regexp.MustCompile(`(?i)\b(X-Amz-Signature=)[^&\s]+`), "${1}" + Redacted},
		{regexp.MustCompile(`(?im)^(X-Amz-Security-Token:\s*).*$`), "${1}" + Redacted},
		{regexp.MustCompile(`(?i)\b(X-Amz-Security-Token=)[^&\s]+`), "${1}" + Redacted},
		// IAM echoes a value that breaks a constraint: "Value '123' at 'authenticationCode1'".
		{regexp.MustCompile(`(?i)Value '[^']*' at '(authenticationCode[12]|tokenCode)'`), "Value '" + Redacted + "' at '${1}'"},
		// Bearer tokens (SSO).
		{regexp.MustCompile(`(?im)^(Authorization:\s*Bearer\s+).*$`), "${1}" + Redacted},
		{regexp.MustCompile(`(?im)^(X-Amz-Sso_bearer_token:\s*).*$`), "${1}" + Redacted},
	}
}()

// Redact returns s with every authentication code, seed, secret key, session token and
// request signature replaced by Redacted, in the forms they take in form bodies, query
// strings, XML, JSON, headers and IAM's validation messages.
func Redact(s string) string {
	for _, r := range redactions {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

// NewDebugLogger returns the logger of --debug: each SDK log entry (requests and
// responses with their bodies, retries) is written to w, timestamped, after Redact.
func NewDebugLogger(w io.Writer) logging.Logger { return &debugLogger{w: w} }

type debugLogger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *debugLogger) Logf(class logging.Classification, format string, v ...any) {
	msg := Redact(fmt.Sprintf(format, v...))
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s - tokenbatch - %s - %s\n", time.Now().UTC().Format("2006-01-02 15:04:05.000"), class, strings.TrimRight(msg, "\r\n"))
}

// Debugf writes one --debug line (redacted) through logger; commands use it to log
// what the AWS CLI logs besides the HTTP exchange (arguments, resolved configuration).
func Debugf(logger logging.Logger, format string, v ...any) {
	if logger != nil {
		logger.Logf(logging.Debug, format, v...)
	}
}
