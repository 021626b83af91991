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
//
// A code is removed wherever it stands among letters or punctuation, and from a run of
// digits made only of codes ("111111222222"), but not from a longer number that merely
// contains it: the account id 123456789012 holds the code 123456 and is no code.
func Scrub(msg string, codes ...string) string {
	var digitCodes []string
	for _, c := range codes {
		switch {
		case len(c) < 3:
		case strings.Trim(c, "0123456789") == "":
			digitCodes = append(digitCodes, c)
		default:
			msg = strings.ReplaceAll(msg, c, Redacted) // not a well-formed code: no number to mistake it for
		}
	}
	if len(digitCodes) > 0 {
		msg = scrubDigitRuns(msg, digitCodes)
	}
	// The pattern consumes its delimiters, so apply it until nothing changes to catch
	// adjacent codes ("123456,654321").
	for i := 0; i < 4 && sixDigits.MatchString(msg); i++ {
		msg = sixDigits.ReplaceAllString(msg, "${1}"+Redacted+"${2}")
	}
	return msg
}

// scrubDigitRuns replaces each maximal run of digits that is a concatenation of codes.
func scrubDigitRuns(msg string, codes []string) string {
	var b strings.Builder
	for i := 0; i < len(msg); {
		if !isDigit(msg[i]) {
			b.WriteByte(msg[i])
			i++
			continue
		}
		j := i
		for j < len(msg) && isDigit(msg[j]) {
			j++
		}
		b.WriteString(scrubRun(msg[i:j], codes))
		i = j
	}
	return b.String()
}

func scrubRun(run string, codes []string) string {
	n := 0
	for rest := run; rest != ""; n++ {
		found := false
		for _, c := range codes {
			if strings.HasPrefix(rest, c) {
				rest, found = rest[len(c):], true
				break
			}
		}
		if !found {
			return run
		}
	}
	return strings.Repeat(Redacted, n)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
