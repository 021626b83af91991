package plan

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// IAM's constraints on ResyncMFADevice's parameters (botocore's service model), as
// exported checks: the manifest planner, `resync-mfa-device` and the TPM commands all
// apply these, each wording the result in its own style from a *RuleError.

// Patterns of the service model, as the AWS CLI prints them.
const (
	UserNamePattern     = `[\w+=,.@-]+`
	SerialNumberPattern = `[\w+=/:,.@-]+`
	CodePattern         = `[\d]+`
)

// Lengths of the service model, in characters.
const (
	MinUserName     = 1
	MaxUserName     = 128
	MinSerialNumber = 9
	MaxSerialNumber = 256
	CodeDigits      = 6
)

// RuleError is a value that breaks one of IAM's constraints. For codes, neither its
// fields nor its text hold the value: only its shape.
type RuleError struct {
	Param    string // IAM's member: UserName, SerialNumber or AuthenticationCode
	Length   int    // the value's length in characters
	Min, Max int    // the allowed length
	Pattern  string // IAM's pattern for the value
	// Char is the first character outside Pattern (user names and serials); 0 when
	// the length is the problem.
	Char rune
	// Code is the planner's machine word (invalid_user, lost_leading_zero, ...) and
	// Message its lower-case description, meant to follow the column's name.
	Code, Message string
}

func (e *RuleError) Error() string {
	what := map[string]string{"UserName": "user name", "SerialNumber": "serial number"}[e.Param]
	if what == "" {
		what = "authentication code"
	}
	return what + " " + e.Message
}

// TooShort reports whether the value is shorter than IAM allows.
func (e *RuleError) TooShort() bool { return e.Length < e.Min }

// TooLong reports whether the value is longer than IAM allows.
func (e *RuleError) TooLong() bool { return e.Length > e.Max }

// CheckUserName checks an IAM user name: 1-128 characters of [\w+=,.@-]. It returns
// nil or a *RuleError.
func CheckUserName(name string) error {
	n := utf8.RuneCountInString(name)
	e := &RuleError{Param: "UserName", Length: n, Min: MinUserName, Max: MaxUserName, Pattern: UserNamePattern, Code: "invalid_user"}
	switch {
	case name == "":
		e.Code, e.Message = "missing_user", "is empty"
	case n > MaxUserName:
		e.Message = fmt.Sprintf("is %d characters; IAM allows at most %d", n, MaxUserName)
	default:
		c, bad := badChar(name, "")
		if !bad {
			return nil
		}
		e.Char = c
		e.Message = fmt.Sprintf("%s is not allowed in an IAM user name (letters, digits and _+=,.@- only)", describeChar(c))
	}
	return e
}

// CheckSerialNumber checks an MFA device's serial number: 9-256 characters of
// [\w+=/:,.@-]. The shape of an ARN is the planner's concern, not IAM's constraint.
func CheckSerialNumber(serial string) error {
	n := utf8.RuneCountInString(serial)
	e := &RuleError{Param: "SerialNumber", Length: n, Min: MinSerialNumber, Max: MaxSerialNumber,
		Pattern: SerialNumberPattern, Code: "invalid_serial"}
	switch {
	case serial == "":
		e.Code, e.Message = "missing_serial", "is empty"
	case n < MinSerialNumber || n > MaxSerialNumber:
		e.Message = fmt.Sprintf("is %d characters; IAM requires %d to %d", n, MinSerialNumber, MaxSerialNumber)
	default:
		c, bad := badChar(serial, "/:")
		if !bad {
			return nil
		}
		e.Char = c
		e.Message = fmt.Sprintf("%s is not allowed in a serial number (letters, digits and _+=/:,.@- only)", describeChar(c))
	}
	return e
}

// CheckCode checks an authentication code: exactly six ASCII digits. The error
// describes the value's shape (a lost leading zero, a spreadsheet formula, ...) and
// never holds the value, so it may be printed and logged.
func CheckCode(code string) error {
	c, msg := codeProblem(code)
	if c == "" {
		return nil
	}
	return &RuleError{Param: "AuthenticationCode", Length: utf8.RuneCountInString(code), Min: CodeDigits, Max: CodeDigits,
		Pattern: CodePattern, Code: c, Message: msg}
}

// badChar returns the first character outside IAM's [\w+=,.@-] plus extra.
func badChar(s, extra string) (rune, bool) {
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_',
			c == '+', c == '=', c == ',', c == '.', c == '@', c == '-':
		case strings.ContainsRune(extra, c):
		default:
			return c, true
		}
	}
	return 0, false
}
