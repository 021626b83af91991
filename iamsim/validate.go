package iamsim

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Character classes of IAM's input patterns, checked without regexp so the request path
// compiles nothing and allocates little. \w is Java's: [a-zA-Z0-9_].
type charClass [256]bool

func newClass(extra string, ranges ...[2]byte) *charClass {
	var c charClass
	for _, r := range extra {
		c[r] = true
	}
	for _, r := range ranges {
		for b := int(r[0]); b <= int(r[1]); b++ {
			c[b] = true
		}
	}
	return &c
}

var word = [][2]byte{{'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {'_', '_'}}

var (
	nameClass   = newClass("+=,.@-", word...)   // [\w+=,.@-]+
	serialClass = newClass("+=/:,.@-", word...) // [\w+=/:,.@-]+
	digitClass  = newClass("", [2]byte{'0', '9'})
)

// matchClass reports whether every byte of s is in c; non-ASCII bytes never are.
func matchClass(s string, c *charClass) bool {
	for i := 0; i < len(s); i++ {
		if !c[s[i]] {
			return false
		}
	}
	return true
}

// validation collects constraint violations for one request and renders them as IAM's
// ValidationError message.
type validation struct {
	msgs []string
}

func (v *validation) add(value *string, member, constraint string) {
	val := "null"
	if value != nil {
		val = "'" + *value + "'"
	}
	v.msgs = append(v.msgs, "Value "+val+" at '"+member+"' failed to satisfy constraint: "+constraint)
}

func (v *validation) err() error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return errValidation("1 validation error detected: " + v.msgs[0])
	}
	return errValidation(fmt.Sprintf("%d validation errors detected: %s", len(v.msgs), strings.Join(v.msgs, "; ")))
}

// str checks a string parameter: presence (when required), length in characters and
// pattern. It returns the value ("" when absent).
func (v *validation) str(p params, name, member string, required bool, min, max int, class *charClass, pattern string) string {
	s, ok := p.get(name)
	if !ok {
		if required {
			v.add(nil, member, "Member must not be null")
		}
		return ""
	}
	n := utf8.RuneCountInString(s)
	if class != nil && !matchClass(s, class) {
		v.add(&s, member, "Member must satisfy regular expression pattern: "+pattern)
	}
	if n < min {
		v.add(&s, member, "Member must have length greater than or equal to "+strconv.Itoa(min))
	}
	if max > 0 && n > max {
		v.add(&s, member, "Member must have length less than or equal to "+strconv.Itoa(max))
	}
	return s
}

func (v *validation) userName(p params, name, member string, required bool) string {
	return v.str(p, name, member, required, 1, 128, nameClass, `[\w+=,.@-]+`)
}

func (v *validation) serial(p params, name, member string, required bool) string {
	return v.str(p, name, member, required, 9, 256, serialClass, `[\w+=/:,.@-]+`)
}

func (v *validation) code(p params, name, member string, required bool) string {
	return v.str(p, name, member, required, 6, 6, digitClass, `[\d]+`)
}

// marker checks Marker: 1-320 characters in [\u0020-\u00FF].
func (v *validation) marker(p params) string {
	s, ok := p.get("Marker")
	if !ok {
		return ""
	}
	okChars := true
	for _, r := range s {
		if r < 0x20 || r > 0xff {
			okChars = false
			break
		}
	}
	if !okChars {
		v.add(&s, "marker", `Member must satisfy regular expression pattern: [\u0020-\u00FF]+`)
	}
	n := utf8.RuneCountInString(s)
	if n < 1 {
		v.add(&s, "marker", "Member must have length greater than or equal to 1")
	}
	if n > 320 {
		v.add(&s, "marker", "Member must have length less than or equal to 320")
	}
	return s
}

// integer checks an optional integer parameter within [min, max]; def when absent.
func (v *validation) integer(p params, name, member string, min, max, def int) int {
	s, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		v.add(&s, member, "Member must be a number")
		return def
	}
	if n < min {
		v.add(&s, member, "Member must have value greater than or equal to "+strconv.Itoa(min))
	}
	if n > max {
		v.add(&s, member, "Member must have value less than or equal to "+strconv.Itoa(max))
	}
	return n
}

// path checks an IAM path: (\u002F)|(\u002F[\u0021-\u007F]+\u002F), 1-512.
func (v *validation) path(p params, name, member string) string {
	s, ok := p.get(name)
	if !ok {
		return "/"
	}
	if !validPath(s) {
		v.add(&s, member, `Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007F]+\u002F)`)
	}
	return s
}

// pathPrefix checks ListUsers' PathPrefix: \u002F[\u0021-\u007F]*, 1-512.
func (v *validation) pathPrefix(p params) string {
	s, ok := p.get("PathPrefix")
	if !ok {
		return "/"
	}
	good := len(s) >= 1 && len(s) <= 512 && s[0] == '/'
	for i := 0; good && i < len(s); i++ {
		good = s[i] >= 0x21 && s[i] <= 0x7f
	}
	if !good {
		v.add(&s, "pathPrefix", `Member must satisfy regular expression pattern: \u002F[\u0021-\u007F]*`)
	}
	return s
}

// enum checks an optional enumerated parameter.
func (v *validation) enum(p params, name, member string, def string, allowed ...string) string {
	s, ok := p.get(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	v.add(&s, member, "Member must satisfy enum value set: ["+strings.Join(allowed, ", ")+"]")
	return s
}
