package yubikey

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tokenbatch/tokenbatch/ykoath"
)

// Mapping is one row of a mapping file: the credential on the key with TokenSerial
// (empty: any key) is the IAM device SerialNumber of UserName. It overrides what the
// credential's name says.
type Mapping struct {
	TokenSerial  string
	Credential   string
	UserName     string
	SerialNumber string
}

// MappingFileError is a bad row of a mapping file.
type MappingFileError struct {
	File   string
	Line   int
	Column string
	Err    error
}

func (e *MappingFileError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("%s:%d: column %s: %v", e.File, e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *MappingFileError) Unwrap() error { return e.Err }

var mappingColumns = []string{"token_serial", "credential", "user_name", "serial_number"}

// LoadMappingFile reads a CSV mapping file with the header
// token_serial,credential,user_name,serial_number.
func LoadMappingFile(file string) ([]Mapping, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", file, ErrMappingNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadMapping(file, f)
}

// ReadMapping reads a mapping file from r; name is used in errors.
func ReadMapping(name string, r io.Reader) ([]Mapping, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, &MappingFileError{File: name, Line: 1, Err: fmt.Errorf("no header: %w (want %s)", err, strings.Join(mappingColumns, ","))}
	}
	idx := map[string]int{}
	for i, h := range header {
		idx[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, c := range mappingColumns[1:] {
		if _, ok := idx[c]; !ok {
			return nil, &MappingFileError{File: name, Line: 1, Column: c, Err: fmt.Errorf("missing column (want %s)", strings.Join(mappingColumns, ","))}
		}
	}
	get := func(rec []string, col string) string {
		if i, ok := idx[col]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []Mapping
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, &MappingFileError{File: name, Line: line, Err: err}
		}
		m := Mapping{TokenSerial: get(rec, "token_serial"), Credential: get(rec, "credential"),
			UserName: get(rec, "user_name"), SerialNumber: get(rec, "serial_number")}
		for col, v := range map[string]string{"credential": m.Credential, "user_name": m.UserName, "serial_number": m.SerialNumber} {
			if v == "" {
				return nil, &MappingFileError{File: name, Line: line, Column: col, Err: errors.New("empty")}
			}
		}
		if _, err := parseMFAArn(m.SerialNumber); err != nil {
			return nil, &MappingFileError{File: name, Line: line, Column: "serial_number", Err: err}
		}
		out = append(out, m)
	}
}

// mfaArn is a virtual MFA device's serial: arn:PARTITION:iam::ACCOUNT:mfa/[PATH/]NAME.
type mfaArn struct {
	Partition, Account, Name string
}

var mfaArnRE = regexp.MustCompile(`^arn:(aws[a-z-]*):iam::(\d{12}):mfa/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)$`)

func parseMFAArn(s string) (mfaArn, error) {
	m := mfaArnRE.FindStringSubmatch(s)
	if m == nil {
		return mfaArn{}, fmt.Errorf("%q is not a virtual MFA device serial (want arn:aws:iam::ACCOUNT:mfa/NAME)", s)
	}
	return mfaArn{Partition: m[1], Account: m[2], Name: m[3]}, nil
}

// Target is the IAM device a credential maps to.
type Target struct {
	UserName     string
	SerialNumber string
	AccountID    string
}

// IAMAPI is what mapping reads from IAM; *iam.Client satisfies it.
type IAMAPI interface {
	ListVirtualMFADevices(ctx context.Context, in *iam.ListVirtualMFADevicesInput, optFns ...func(*iam.Options)) (*iam.ListVirtualMFADevicesOutput, error)
	ListAccountAliases(ctx context.Context, in *iam.ListAccountAliasesInput, optFns ...func(*iam.Options)) (*iam.ListAccountAliasesOutput, error)
}

// Resolver maps credentials to IAM devices. It reads IAM once: the virtual MFA devices
// with their users, and the account alias only when a name uses one.
type Resolver struct {
	client    IAMAPI
	accountID string
	mapping   []Mapping
	devices   map[string]string // serial ARN -> user name ("" when unassigned)
	byName    map[string]string // device name -> serial ARN
	aliases   []string
	aliasRead bool
}

// NewResolver lists the account's virtual MFA devices. accountID is the credentials'
// account; empty takes it from the listed devices.
func NewResolver(ctx context.Context, client IAMAPI, accountID string, mapping []Mapping) (*Resolver, error) {
	r := &Resolver{client: client, accountID: accountID, mapping: mapping, devices: map[string]string{}, byName: map[string]string{}}
	p := iam.NewListVirtualMFADevicesPaginator(client, &iam.ListVirtualMFADevicesInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing virtual MFA devices: %w", err)
		}
		for _, d := range out.VirtualMFADevices {
			serial := aws.ToString(d.SerialNumber)
			user := ""
			if d.User != nil {
				user = aws.ToString(d.User.UserName)
			}
			r.devices[serial] = user
			if a, err := parseMFAArn(serial); err == nil {
				r.byName[a.Name] = serial
				if r.accountID == "" {
					r.accountID = a.Account
				}
			}
		}
	}
	return r, nil
}

// AccountID is the account credentials are mapped in.
func (r *Resolver) AccountID() string { return r.accountID }

func (r *Resolver) isAlias(ctx context.Context, alias string) (bool, error) {
	if !r.aliasRead {
		out, err := r.client.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
		if err != nil {
			return false, fmt.Errorf("listing account aliases: %w", err)
		}
		r.aliases, r.aliasRead = out.AccountAliases, true
	}
	for _, a := range r.aliases {
		if strings.EqualFold(a, alias) {
			return true, nil
		}
	}
	return false, nil
}

var accountIDRE = regexp.MustCompile(`^\d{12}$`)

// Resolve maps the credential named credential on the key tokenSerial: the mapping
// file first, then a serial ARN in the name, then the QR-code name
// `[Amazon Web Services:]DEVICE_NAME@ACCOUNT`. Errors wrap ErrUnmapped,
// ErrUnassigned or ErrOtherAccount.
func (r *Resolver) Resolve(ctx context.Context, tokenSerial, credential string) (Target, error) {
	for _, m := range r.mapping {
		if m.Credential == credential && (m.TokenSerial == "" || m.TokenSerial == tokenSerial) {
			a, _ := parseMFAArn(m.SerialNumber)
			if r.accountID != "" && a.Account != r.accountID {
				return Target{}, fmt.Errorf("mapping names %s: %w", m.SerialNumber, ErrOtherAccount)
			}
			return Target{UserName: m.UserName, SerialNumber: m.SerialNumber, AccountID: a.Account}, nil
		}
	}
	_, _, account := ykoath.ParseName(credential)
	if i := strings.Index(credential, "arn:"); i >= 0 {
		a, err := parseMFAArn(credential[i:])
		if err != nil {
			return Target{}, fmt.Errorf("%w: %v", ErrUnmapped, err)
		}
		if r.accountID != "" && a.Account != r.accountID {
			return Target{}, ErrOtherAccount
		}
		return r.target(credential[i:], a.Account)
	}
	at := strings.LastIndex(account, "@")
	if at <= 0 || at == len(account)-1 {
		return Target{}, ErrUnmapped
	}
	name, acct := account[:at], account[at+1:]
	if accountIDRE.MatchString(acct) {
		if r.accountID != "" && acct != r.accountID {
			return Target{}, ErrOtherAccount
		}
	} else {
		ok, err := r.isAlias(ctx, acct)
		if err != nil {
			return Target{}, err
		}
		if !ok {
			return Target{}, fmt.Errorf("account alias %q is not this account's: %w", acct, ErrOtherAccount)
		}
	}
	serial, ok := r.byName[name]
	if !ok {
		return Target{}, fmt.Errorf("no virtual MFA device named %q in account %s: %w", name, r.accountID, ErrUnmapped)
	}
	return r.target(serial, r.accountID)
}

func (r *Resolver) target(serial, account string) (Target, error) {
	user, ok := r.devices[serial]
	if !ok {
		return Target{}, fmt.Errorf("no virtual MFA device %s in IAM: %w", serial, ErrUnmapped)
	}
	if user == "" {
		return Target{}, fmt.Errorf("%s: %w", serial, ErrUnassigned)
	}
	return Target{UserName: user, SerialNumber: serial, AccountID: account}, nil
}
