package report

import (
	"regexp"
	"strings"
)

// Redacted replaces a code in messages.
const Redacted = "[redacted]"

// sixDigits matches a standalone run of exactly six digits: the shape of an
// authentication code. It is scrubbed too, as a second line of defence for codes the
// caller did not pass (a token's codes change with every attempt).
var sixDigits = regexp.MustCompile(`(^|[^0-9A-Za-z])[0-9]{6}($|[^0-9A-Za-z])`)

// Scrub removes every given code from msg, and every standalone six-digit number. IAM
// echoes submitted values in its messages (ValidationError: "Value '12345' at
// 'authenticationCode1' ..."), so every message that reaches a report, a log or an
// error is scrubbed first.
func Scrub(msg string, codes ...string) string {
	for _, c := range codes {
		if len(c) >= 3 {
			msg = strings.ReplaceAll(msg, c, Redacted)
		}
	}
	// The pattern consumes its delimiters, so apply it until nothing changes to catch
	// adjacent codes ("123456,654321").
	for i := 0; i < 4 && sixDigits.MatchString(msg); i++ {
		msg = sixDigits.ReplaceAllString(msg, "${1}"+Redacted+"${2}")
	}
	return msg
}
