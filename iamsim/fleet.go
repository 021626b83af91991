package iamsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Fleet is the simulated account: its access keys, users, roles and MFA devices. It is
// read from a JSON file (see docs/simulator.md) and copied into a Server's state, so a
// Fleet is never changed by the server that serves it.
type Fleet struct {
	AccountID    string      `json:"account_id"`
	AccountAlias string      `json:"account_alias,omitempty"`
	AccessKeys   []AccessKey `json:"access_keys"`
	Users        []User      `json:"users"`
	Roles        []Role      `json:"roles,omitempty"`
	Devices      []Device    `json:"devices"`
}

// AccessKey is a long-term key pair. UserName names the IAM user it belongs to; empty
// means the account's root user.
type AccessKey struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	UserName        string `json:"user_name,omitempty"`
	// DenyActions lists actions this key may not call ("iam:ResyncMFADevice",
	// "ResyncMFADevice", "iam:*", "*"); they are answered with AccessDenied.
	DenyActions []string `json:"deny_actions,omitempty"`
	// Expires, when set, is the simulator-clock time after which the key is answered
	// with ExpiredToken.
	Expires *time.Time `json:"expires,omitempty"`
}

// User is an IAM user. UserID and CreateDate are derived from the name when empty.
type User struct {
	UserName   string    `json:"user_name"`
	Path       string    `json:"path,omitempty"`
	UserID     string    `json:"user_id,omitempty"`
	CreateDate time.Time `json:"create_date,omitzero"`
}

// Role is an IAM role that AssumeRole can assume. With RequiresMFA, AssumeRole must
// carry SerialNumber and TokenCode of one of the caller's devices.
type Role struct {
	RoleName string `json:"role_name"`
	Path     string `json:"path,omitempty"`
	RoleID   string `json:"role_id,omitempty"`
	// RequiresMFA mirrors a trust policy with "aws:MultiFactorAuthPresent": "true".
	RequiresMFA bool `json:"requires_mfa,omitempty"`
	// MaxSessionDuration in seconds; 0 means IAM's default of 3600.
	MaxSessionDuration int `json:"max_session_duration,omitempty"`
}

// Device kinds.
const (
	KindVirtual  = "virtual"
	KindHardware = "hardware"
)

// Device is a TOTP MFA device and the token that shows its codes.
type Device struct {
	// SerialNumber is the virtual device's ARN (arn:aws:iam::ACCOUNT:mfa/[PATH/]NAME)
	// or a hardware token's serial (e.g. GAHT12345678).
	SerialNumber string `json:"serial_number"`
	Kind         string `json:"kind"`
	// Seed is the TOTP secret in base32 (RFC 4648, padding optional).
	Seed string `json:"seed"`
	// DriftSteps is how many 30-second steps the token's clock runs ahead of true time
	// (negative: behind). `sim manifest` shows codes with it; the server does not know it.
	DriftSteps int `json:"drift_steps,omitempty"`
	// ServerDriftSteps is the drift IAM has stored for the device (the one sign-in
	// trusts), usually 0 until a resync detects the token's drift.
	ServerDriftSteps int `json:"server_drift_steps,omitempty"`
	// UserName is the user the device is assigned to; empty means unassigned (only
	// meaningful for virtual devices and hardware tokens not yet enabled).
	UserName   string     `json:"user_name,omitempty"`
	EnableDate *time.Time `json:"enable_date,omitempty"`
}

// Fleet errors.
var (
	ErrFleet = errors.New("invalid fleet")
)

// LoadFleet reads and validates a fleet file.
func LoadFleet(path string) (*Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fleet: %w", err)
	}
	f, err := ParseFleet(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ParseFleet decodes and validates a fleet from JSON. Unknown fields are errors, so a
// misspelt field is not silently ignored.
func ParseFleet(r io.Reader) (*Fleet, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f Fleet
	if err := dec.Decode(&f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: json syntax error at byte %d: %v", ErrFleet, se.Offset, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrFleet, err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Validate checks the fleet's consistency: ids, names, seeds, references. Error
// messages name the entry and field and never include seeds or secret keys.
func (f *Fleet) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrFleet}, args...)...)
	}
	if len(f.AccountID) != 12 || !allDigits(f.AccountID) {
		return bad("account_id %q must be 12 digits", f.AccountID)
	}
	users := make(map[string]bool, len(f.Users))
	for i, u := range f.Users {
		if !validName(u.UserName, 64) {
			return bad("users[%d].user_name %q must be 1-64 characters of [\\w+=,.@-]", i, u.UserName)
		}
		if users[u.UserName] {
			return bad("users[%d].user_name %q is listed twice", i, u.UserName)
		}
		if u.Path != "" && !validPath(u.Path) {
			return bad("users[%d].path %q must start and end with /", i, u.Path)
		}
		users[u.UserName] = true
	}
	keys := make(map[string]bool, len(f.AccessKeys))
	for i, k := range f.AccessKeys {
		if len(k.AccessKeyID) < 16 || len(k.AccessKeyID) > 128 || !allAlnum(k.AccessKeyID) {
			return bad("access_keys[%d].access_key_id %q must be 16-128 letters and digits", i, k.AccessKeyID)
		}
		if keys[k.AccessKeyID] {
			return bad("access_keys[%d].access_key_id %q is listed twice", i, k.AccessKeyID)
		}
		keys[k.AccessKeyID] = true
		if k.SecretAccessKey == "" {
			return bad("access_keys[%d] (%s): secret_access_key is empty", i, k.AccessKeyID)
		}
		if k.UserName != "" && !users[k.UserName] {
			return bad("access_keys[%d] (%s): user_name %q is not in users", i, k.AccessKeyID, k.UserName)
		}
	}
	roles := make(map[string]bool, len(f.Roles))
	for i, r := range f.Roles {
		if !validName(r.RoleName, 64) {
			return bad("roles[%d].role_name %q must be 1-64 characters of [\\w+=,.@-]", i, r.RoleName)
		}
		if roles[r.RoleName] {
			return bad("roles[%d].role_name %q is listed twice", i, r.RoleName)
		}
		if r.Path != "" && !validPath(r.Path) {
			return bad("roles[%d].path %q must start and end with /", i, r.Path)
		}
		if r.MaxSessionDuration != 0 && (r.MaxSessionDuration < 3600 || r.MaxSessionDuration > 43200) {
			return bad("roles[%d].max_session_duration %d must be 3600-43200", i, r.MaxSessionDuration)
		}
		roles[r.RoleName] = true
	}
	serials := make(map[string]bool, len(f.Devices))
	perUser := make(map[string]int)
	arnPrefix := "arn:aws:iam::" + f.AccountID + ":mfa/"
	for i, d := range f.Devices {
		if !validSerial(d.SerialNumber) {
			return bad("devices[%d].serial_number %q must be 9-256 characters of [\\w+=/:,.@-]", i, d.SerialNumber)
		}
		if serials[d.SerialNumber] {
			return bad("devices[%d].serial_number %q is listed twice", i, d.SerialNumber)
		}
		serials[d.SerialNumber] = true
		switch d.Kind {
		case KindVirtual:
			if !strings.HasPrefix(d.SerialNumber, arnPrefix) || len(d.SerialNumber) == len(arnPrefix) {
				return bad("devices[%d].serial_number %q: a virtual device's serial is its ARN %sNAME", i, d.SerialNumber, arnPrefix)
			}
		case KindHardware:
			if strings.HasPrefix(d.SerialNumber, "arn:") {
				return bad("devices[%d].serial_number %q: a hardware device's serial is not an ARN", i, d.SerialNumber)
			}
		default:
			return bad("devices[%d] (%s): kind %q must be %q or %q", i, d.SerialNumber, d.Kind, KindVirtual, KindHardware)
		}
		if _, err := DecodeSeed(d.Seed); err != nil {
			return bad("devices[%d] (%s): seed: %v", i, d.SerialNumber, err)
		}
		if d.UserName != "" {
			if !users[d.UserName] {
				return bad("devices[%d] (%s): user_name %q is not in users", i, d.SerialNumber, d.UserName)
			}
			perUser[d.UserName]++
			if perUser[d.UserName] > MaxDevicesPerUser {
				return bad("devices[%d] (%s): user %q has more than %d devices", i, d.SerialNumber, d.UserName, MaxDevicesPerUser)
			}
		}
	}
	return nil
}

// MaxDevicesPerUser is IAM's quota of MFA devices per user.
const MaxDevicesPerUser = 8

// DecodeSeed decodes a base32 TOTP seed (case-insensitive, padding and spaces optional).
// Its errors never include the seed.
func DecodeSeed(s string) ([]byte, error) {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimRight(s, "="), " ", ""))
	if s == "" {
		return nil, errors.New("empty")
	}
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return nil, errors.New("not valid base32")
	}
	if len(b) < 10 {
		return nil, fmt.Errorf("%d bytes is too short (at least 10)", len(b))
	}
	return b, nil
}

// userID derives a stable IAM-style unique id (AIDA + 17 characters) from a name.
func derivedID(prefix, name string) string {
	sum := sha256.Sum256([]byte(prefix + ":" + name))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; i < 17; i++ {
		b.WriteByte(alphabet[sum[i]%32])
	}
	return b.String()
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func allAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func validName(s string, max int) bool {
	return len(s) >= 1 && len(s) <= max && matchClass(s, nameClass)
}

func validSerial(s string) bool {
	return len(s) >= 9 && len(s) <= 256 && matchClass(s, serialClass)
}

func validPath(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || len(p) > 512 || p[0] != '/' || p[len(p)-1] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x21 || p[i] > 0x7f {
			return false
		}
	}
	return true
}
