package plan

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tokenbatch/tokenbatch/reader"
)

const (
	futureSlack  = time.Minute // clock differences between collectors
	accountIDLen = 12
)

type builder struct {
	p            *Plan
	opts         Options
	file         string
	now          time.Time
	firstAccount string // offline: the account the first row named
	firstAcctAt  int
	firstPart    string
	firstPartAt  int
	sourceErrors int
}

func newBuilder(file string, opts Options) *builder {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	return &builder{
		p: &Plan{
			CreatedAt:  now.UTC().Truncate(time.Millisecond),
			AccountID:  opts.AccountID,
			Partition:  opts.Partition,
			MaxCodeAge: opts.MaxCodeAge,
		},
		opts: opts,
		file: file,
		now:  now,
	}
}

func (b *builder) problem(p Problem) {
	if b.full(p.Code) {
		return
	}
	b.p.Problems = append(b.p.Problems, p)
}

// full reports whether MaxProblems are kept already, and then counts the problem as
// omitted: a million stale rows must not cost a million messages.
func (b *builder) full(code string) bool {
	if len(b.p.Problems) < MaxProblems {
		return false
	}
	if b.p.OmittedProblems == nil {
		b.p.OmittedProblems = map[string]int{}
	}
	b.p.OmittedProblems[code]++
	return true
}

// row is one device being validated, from a manifest record or a token.
type row struct {
	line                  int
	user, serial, account string
	code1, code2          string
	collected             time.Time
	collectedText         string
	ticket                string
	token                 *Token
	needCodes             bool // a manifest row: codes are required
	invalid               bool
	e                     entry
	storedSerial          string
}

func (b *builder) rowProblem(r *row, sev Severity, column, code, format string, args ...any) {
	if sev == Error {
		r.invalid = true
	}
	if b.full(code) {
		return
	}
	file := b.file
	if r.token != nil {
		file = ""
	}
	b.p.Problems = append(b.p.Problems, Problem{File: file, Line: r.line, Column: column, UserName: r.user,
		SerialNumber: r.serial, Severity: sev, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (b *builder) addRecord(rec reader.Record) error {
	r := row{line: rec.Line, user: rec.UserName, serial: rec.SerialNumber, account: rec.AccountID,
		code1: rec.Code1, code2: rec.Code2, collected: rec.CollectedAt, collectedText: rec.CollectedAtText,
		ticket: rec.Ticket}
	r.needCodes = true
	return b.add(&r)
}

func (b *builder) addDevice(d Device) error {
	r := row{line: d.Line, user: d.UserName, serial: d.SerialNumber, account: d.AccountID,
		code1: d.Code1, code2: d.Code2, collected: d.CollectedAt, ticket: d.Ticket, token: d.Token}
	r.needCodes = r.code1 != "" || r.code2 != ""
	return b.add(&r)
}

// add validates what every source shares, then stores the row.
func (b *builder) add(r *row) error {
	b.checkUser(r)
	b.checkSerialAndAccount(r)
	if r.needCodes {
		b.checkCodes(r)
	}
	if r.collectedText != "" && r.collected.IsZero() {
		b.rowProblem(r, Error, reader.ColCollectedAt, "invalid_collected_at",
			"%q is not an RFC 3339 time such as 2024-05-01T09:30:00Z", r.collectedText)
	}
	b.checkCollected(r)
	e := &r.e
	e.line = uint32(r.line)
	if !r.collected.IsZero() {
		e.flags |= flagCollected
		e.collected = r.collected.UnixNano()
	}
	if r.storedSerial == "" {
		r.storedSerial = r.serial
	}
	acct, err := b.p.st.internAccount(r.account)
	if err != nil {
		return err
	}
	e.account = acct
	if !r.invalid && r.code1 != "" {
		e.flags |= flagCodes
		e.code1, e.code2 = parseCode(r.code1), parseCode(r.code2)
	}
	if r.invalid {
		e.flags |= flagInvalid
	}
	i, err := b.p.st.add(*e, r.user, r.storedSerial, r.ticket)
	if err != nil {
		return err
	}
	if r.token != nil {
		if b.p.st.tokens == nil {
			b.p.st.tokens = map[int]*Token{}
		}
		b.p.st.tokens[i] = r.token
	}
	if r.serial != "" {
		b.p.st.serialKeys = append(b.p.st.serialKeys, uint64(uint32(serialHash(r.serial)))<<32|uint64(i))
	}
	return nil
}

// markDuplicates reports serial numbers on more than one row: every such row is an
// error, since which row's codes are right cannot be known.
func (b *builder) markDuplicates() {
	st := &b.p.st
	reported := map[int]bool{}
	st.duplicates(st.serialKeys, func(first, other int) {
		fe, oe := st.at(first), st.at(other)
		if !reported[first] {
			reported[first] = true
			r := row{line: int(fe.line), user: st.user(fe), serial: st.serial(fe), token: st.tokens[first]}
			b.rowProblem(&r, Error, reader.ColSerialNumber, "duplicate_serial",
				"the same serial number is on line %d; keep one row per device", oe.line)
		}
		r := row{line: int(oe.line), user: st.user(oe), serial: st.serial(oe), token: st.tokens[other]}
		b.rowProblem(&r, Error, reader.ColSerialNumber, "duplicate_serial",
			"the same serial number is on line %d; keep one row per device", fe.line)
		for _, e := range []*entry{fe, oe} {
			e.flags |= flagInvalid
			e.flags &^= flagCodes
		}
	})
	st.serialKeys = nil
}

func (b *builder) checkUser(r *row) {
	var re *RuleError
	if err := CheckUserName(r.user); err != nil && errors.As(err, &re) {
		b.rowProblem(r, Error, reader.ColUserName, re.Code, "%s", re.Message)
	}
}

func describeChar(c rune) string {
	switch c {
	case ' ':
		return "a space"
	case '\u00a0':
		return "a no-break space"
	case '\u200b':
		return "a zero-width space"
	}
	if c < ' ' || c == 0x7f {
		return fmt.Sprintf("control character %U", c)
	}
	return fmt.Sprintf("%q", c)
}

// checkSerialAndAccount checks the serial's shape, and that its account and the row's
// account_id are the credentials' (or, offline, the same on every row).
func (b *builder) checkSerialAndAccount(r *row) {
	var re *RuleError
	if err := CheckSerialNumber(r.serial); err != nil && errors.As(err, &re) {
		b.rowProblem(r, Error, reader.ColSerialNumber, re.Code, "%s", re.Message)
	}
	var arnAccount string
	if len(r.serial) >= 4 && strings.EqualFold(r.serial[:4], "arn:") {
		part, acct, kind, name, ok := parseARN(r.serial)
		switch {
		case !ok:
			b.rowProblem(r, Error, reader.ColSerialNumber, "invalid_serial",
				"is not an MFA device ARN such as arn:aws:iam::123456789012:mfa/NAME")
		case kind == "u2f":
			b.rowProblem(r, Error, reader.ColSerialNumber, "fido_device",
				"is a FIDO security key, which keeps no time and cannot be resynced")
		case kind != "mfa":
			b.rowProblem(r, Error, reader.ColSerialNumber, "invalid_serial",
				"is an ARN of an IAM %s, not of an MFA device (arn:aws:iam::ACCOUNT:mfa/NAME)", kind)
		default:
			arnAccount = acct
			b.checkPartition(r, part)
			if pi, ok := b.p.st.internPartition(part); ok && r.serial[:4] == "arn:" {
				r.e.partition = pi
				r.e.flags |= flagARN
				r.storedSerial = name
			}
		}
	}
	acct := arnAccount
	if r.account != "" {
		if !isAccountID(r.account) {
			b.rowProblem(r, Error, reader.ColAccountID, "invalid_account_id",
				"%q is not a 12-digit AWS account id", r.account)
			r.account = ""
			r.e.flags &^= flagARN
			r.storedSerial = ""
			return
		}
		if arnAccount != "" && arnAccount != r.account {
			b.rowProblem(r, Error, reader.ColAccountID, "account_mismatch",
				"is %s, but the serial number's ARN names account %s", r.account, arnAccount)
		}
		acct = r.account
	}
	if arnAccount != "" && r.account != "" && arnAccount != r.account {
		// keep the ARN whole: its account is not the row's
		r.e.flags &^= flagARN
		r.storedSerial = ""
	}
	if acct == "" {
		r.account = b.opts.AccountID
		return
	}
	r.account = acct
	col := reader.ColAccountID
	if r.account == arnAccount {
		col = reader.ColSerialNumber
	}
	switch {
	case b.opts.AccountID != "" && acct != b.opts.AccountID:
		b.rowProblem(r, Error, col, "other_account",
			"device of account %s, but the credentials are for account %s", acct, b.opts.AccountID)
	case b.opts.AccountID == "" && b.firstAccount == "":
		b.firstAccount, b.firstAcctAt = acct, r.line
	case b.opts.AccountID == "" && acct != b.firstAccount:
		b.rowProblem(r, Error, col, "mixed_accounts",
			"device of account %s, but line %d names account %s; a plan covers one account", acct, b.firstAcctAt, b.firstAccount)
	}
}

func (b *builder) checkPartition(r *row, part string) {
	switch {
	case b.opts.Partition != "" && part != b.opts.Partition:
		b.rowProblem(r, Error, reader.ColSerialNumber, "other_partition",
			"device in partition %s, but the credentials are for partition %s", part, b.opts.Partition)
	case b.opts.Partition == "" && b.firstPart == "":
		b.firstPart, b.firstPartAt = part, r.line
	case b.opts.Partition == "" && part != b.firstPart:
		b.rowProblem(r, Error, reader.ColSerialNumber, "mixed_partitions",
			"device in partition %s, but line %d is in partition %s; a plan covers one account", part, b.firstPartAt, b.firstPart)
	}
}

// parseARN splits arn:PARTITION:iam::ACCOUNT:KIND/NAME.
func parseARN(s string) (partition, account, kind, name string, ok bool) {
	var f [5]string
	rest := s
	for i := range f {
		j := strings.IndexByte(rest, ':')
		if j < 0 {
			return "", "", "", "", false
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	if !strings.EqualFold(f[0], "arn") || f[2] != "iam" || f[3] != "" {
		return "", "", "", "", false
	}
	partition, account = f[1], f[4]
	if !validPartition(partition) || !isAccountID(account) {
		return "", "", "", "", false
	}
	kind, name, found := strings.Cut(rest, "/")
	if !found || name == "" || strings.HasSuffix(name, "/") {
		return "", "", "", "", false
	}
	return partition, account, kind, name, true
}

// isAccountID reports whether s is 12 ASCII digits.
func isAccountID(s string) bool {
	if len(s) != accountIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validPartition accepts aws, aws-cn, aws-us-gov, aws-iso-b and the like.
func validPartition(p string) bool {
	if p != "aws" && !strings.HasPrefix(p, "aws-") {
		return false
	}
	for _, c := range p {
		if !('a' <= c && c <= 'z' || c == '-' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func (b *builder) checkCollected(r *row) {
	if r.collected.IsZero() {
		return
	}
	age := b.now.Sub(r.collected)
	switch {
	case age < -futureSlack:
		b.rowProblem(r, Warning, reader.ColCollectedAt, "collected_in_future",
			"is %s in the future; check the clock of whoever collected the codes", (-age).Round(time.Second))
	case b.opts.MaxCodeAge > 0 && age > b.opts.MaxCodeAge && r.code1 != "":
		b.rowProblem(r, Error, reader.ColCollectedAt, "stale",
			"codes collected %s ago, more than --max-code-age %s; collect two new codes", age.Round(time.Second), b.opts.MaxCodeAge)
	}
}

// checkCodes validates both codes without ever putting a code in a message.
func (b *builder) checkCodes(r *row) {
	ok1 := b.checkCode(r, reader.ColCode1, r.code1)
	ok2 := b.checkCode(r, reader.ColCode2, r.code2)
	if ok1 && ok2 && r.code1 == r.code2 {
		b.rowProblem(r, Error, reader.ColCode2, "same_codes",
			"equals authentication_code1; collect two consecutive codes (wait for the next one)")
	}
}

func (b *builder) checkCode(r *row, column, c string) bool {
	code, msg := codeProblem(c)
	if code == "" {
		return true
	}
	b.rowProblem(r, Error, column, code, "%s", msg)
	return false
}

// codeProblem says what is wrong with an authentication code, or returns "" when it is
// exactly six ASCII digits. Messages describe the value's shape, never the value.
func codeProblem(c string) (code, msg string) {
	digits, other := 0, 0
	for i := 0; i < len(c); i++ {
		if '0' <= c[i] && c[i] <= '9' {
			digits++
		} else {
			other++
		}
	}
	const asText = "format the column as text and collect two new codes"
	switch {
	case c == "":
		return "missing_code", "is empty"
	case other == 0 && digits == CodeDigits:
		return "", ""
	case other == 0 && digits < CodeDigits:
		return "lost_leading_zero", fmt.Sprintf("has %d digits: a leading zero was probably lost (spreadsheets drop them); %s", digits, asText)
	case other == 0:
		return "too_many_digits", fmt.Sprintf("has %d digits; a code has exactly %d", digits, CodeDigits)
	case strings.HasPrefix(c, "="):
		return "spreadsheet_formula", "is a spreadsheet formula (=\"...\"); export the values, not formulas, with the column formatted as text"
	case strings.HasPrefix(c, "'"):
		return "spreadsheet_quote", "starts with an apostrophe (a spreadsheet's text marker); remove it"
	case strings.ContainsAny(c, "eE") && strings.Trim(c, "0123456789.,eE+-") == "":
		return "scientific_notation", "is in scientific notation (like 1.23E+05): the spreadsheet turned the code into a number; " + asText
	case strings.Trim(c, "0123456789.,") == "" && strings.ContainsAny(c, ".,"):
		return "decimal_number", "has a decimal point: the spreadsheet turned the code into a number; " + asText
	case strings.Trim(c, "0123456789 ") == "" && digits == CodeDigits:
		return "space_in_code", "has a space inside (apps show codes as 123 456); remove it"
	}
	return "not_digits", fmt.Sprintf("must be %d digits 0-9, but has %d other characters", CodeDigits, other)
}
