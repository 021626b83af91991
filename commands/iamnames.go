package commands

import (
	"unicode/utf8"

	"github.com/tokenbatch/tokenbatch/plan"
)

// iamUserNameRule is plan.CheckUserName, IAM's user-name rule, held to at most max
// characters. It has a regexp's MatchString so that the TPM commands call it as
// they called their own pattern.
type iamUserNameRule struct{ max int }

func (r iamUserNameRule) MatchString(name string) bool {
	return plan.CheckUserName(name) == nil && utf8.RuneCountInString(name) <= r.max
}
