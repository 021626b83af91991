// Package ykoath is a client for the YubiKey OATH applet (YKOATH): SELECT, VALIDATE,
// LIST, CALCULATE ALL, CALCULATE, PUT, DELETE and SEND REMAINING chaining. It is pure
// Go over a Transmitter (a PC/SC card, or a virtual key in tests); keeping a read's
// commands in one transaction is the caller's job.
//
// A key has no clock: the host sends the time step, so a caller can ask for the codes of
// steps T-1 and T at once. Codes are secrets; the Code type prints as "[code]" so that
// a stray %v never leaks one.
package ykoath

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// AID is the OATH applet's application identifier.
var AID = []byte{0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01}

// Instructions.
const (
	insPut           = 0x01
	insDelete        = 0x02
	insSetCode       = 0x03
	insReset         = 0x04
	insList          = 0xA1
	insCalculate     = 0xA2
	insValidate      = 0xA3
	insCalculateAll  = 0xA4
	insSendRemaining = 0xA5
	insSelect        = 0xA4
)

// Tags.
const (
	tagName      = 0x71
	tagNameList  = 0x72
	tagKey       = 0x73
	tagChallenge = 0x74
	tagResponse  = 0x75
	tagTruncated = 0x76
	tagHOTP      = 0x77
	tagProperty  = 0x78
	tagVersion   = 0x79
	tagIMF       = 0x7A
	tagAlgorithm = 0x7B
	tagTouch     = 0x7C
)

// PropertyRequireTouch marks a credential whose codes need a touch of the key.
const PropertyRequireTouch = 0x02

// Type is a credential's OATH type (the high nibble of the type/algorithm byte).
type Type byte

const (
	HOTP Type = 0x10
	TOTP Type = 0x20
)

func (t Type) String() string {
	switch t {
	case HOTP:
		return "HOTP"
	case TOTP:
		return "TOTP"
	}
	return fmt.Sprintf("type(0x%02x)", byte(t))
}

// Algorithm is a credential's hash (the low nibble of the type/algorithm byte).
type Algorithm byte

const (
	SHA1   Algorithm = 1
	SHA256 Algorithm = 2
	SHA512 Algorithm = 3
)

func (a Algorithm) String() string {
	switch a {
	case SHA1:
		return "SHA1"
	case SHA256:
		return "SHA256"
	case SHA512:
		return "SHA512"
	}
	return fmt.Sprintf("algorithm(%d)", byte(a))
}

// Hash returns the hash constructor for a, or nil.
func (a Algorithm) Hash() func() hash.Hash {
	switch a {
	case SHA1:
		return sha1.New
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	return nil
}

// Transmitter sends one command APDU and returns the response, status word included.
type Transmitter interface {
	Transmit(cmd []byte) ([]byte, error)
}

// Session is the OATH applet, selected.
type Session struct {
	t         Transmitter
	version   [3]byte
	salt      []byte // the device id; also the password's PBKDF2 salt
	challenge []byte // present when a password is set
	alg       Algorithm
	validated bool
}

// Select selects the OATH applet and reads its version, salt and, when a password is
// set, its challenge.
func Select(t Transmitter) (*Session, error) {
	resp, err := send(t, "select", apdu(0x00, insSelect, 0x04, 0x00, AID))
	if err != nil {
		return nil, err
	}
	s := &Session{t: t, alg: SHA1}
	tlvs, err := parseTLVs(resp)
	if err != nil {
		return nil, fmt.Errorf("oath select: %w", err)
	}
	for _, v := range tlvs {
		switch v.tag {
		case tagVersion:
			copy(s.version[:], v.value)
		case tagName:
			s.salt = v.value
		case tagChallenge:
			s.challenge = v.value
		case tagAlgorithm:
			if len(v.value) == 1 {
				s.alg = Algorithm(v.value[0])
			}
		}
	}
	return s, nil
}

// Version is the applet's firmware version, e.g. "5.4.3".
func (s *Session) Version() string {
	return fmt.Sprintf("%d.%d.%d", s.version[0], s.version[1], s.version[2])
}

// DeviceID identifies the applet's state (ykman shows it); it is also the password salt.
func (s *Session) DeviceID() []byte { return s.salt }

// Locked reports whether a password is set and not yet validated in this session.
func (s *Session) Locked() bool { return s.challenge != nil && !s.validated }

// DeriveKey turns a password into the applet's access key:
// PBKDF2-HMAC-SHA1(password, salt, 1000 iterations, 16 bytes).
// It fails only where FIPS 140-only mode forbids PBKDF2 with SHA-1 and an 8-byte salt.
func DeriveKey(password, salt []byte) ([]byte, error) {
	return pbkdf2.Key(sha1.New, string(password), salt, 1000, 16)
}

// Validate unlocks a password-protected applet with password. A wrong password returns
// an error matching ErrWrongPassword. The applet's reply is checked too, so a key that
// does not know the password cannot pretend to.
func (s *Session) Validate(password []byte) error {
	if s.challenge == nil {
		return nil
	}
	h := s.alg.Hash()
	if h == nil {
		return fmt.Errorf("oath validate: unsupported password algorithm %v", s.alg)
	}
	key, err := DeriveKey(password, s.salt)
	if err != nil {
		return fmt.Errorf("oath validate: deriving the key from the password: %w", err)
	}
	mac := hmac.New(h, key)
	mac.Write(s.challenge)
	ours := make([]byte, 8)
	if _, err := rand.Read(ours); err != nil {
		return err
	}
	data := tlv(tagResponse, mac.Sum(nil))
	data = append(data, tlv(tagChallenge, ours)...)
	resp, err := send(s.t, "validate", apdu(0x00, insValidate, 0, 0, data))
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && (se.SW == swWrongSyntax || se.SW == swAuthRequired) {
			return ErrWrongPassword
		}
		return err
	}
	tlvs, err := parseTLVs(resp)
	if err != nil || len(tlvs) == 0 || tlvs[0].tag != tagResponse {
		return fmt.Errorf("oath validate: the key's reply is malformed")
	}
	mac = hmac.New(h, key)
	mac.Write(ours)
	if !hmac.Equal(mac.Sum(nil), tlvs[0].value) {
		return ErrKeyResponse
	}
	s.validated = true
	return nil
}

// Credential is one entry of LIST.
type Credential struct {
	Name      string // the credential id: [period/][issuer:]account
	Type      Type
	Algorithm Algorithm
}

// List returns the credentials on the key.
func (s *Session) List() ([]Credential, error) {
	resp, err := s.send("list", apdu(0x00, insList, 0, 0, nil))
	if err != nil {
		return nil, err
	}
	tlvs, err := parseTLVs(resp)
	if err != nil {
		return nil, fmt.Errorf("oath list: %w", err)
	}
	var out []Credential
	for _, v := range tlvs {
		if v.tag != tagNameList || len(v.value) < 1 {
			continue
		}
		out = append(out, Credential{
			Name:      string(v.value[1:]),
			Type:      Type(v.value[0] & 0xF0),
			Algorithm: Algorithm(v.value[0] & 0x0F),
		})
	}
	return out, nil
}

// Code is a one-time code. It prints as "[code]": use Value for the digits.
type Code string

// Value returns the digits.
func (c Code) Value() string { return string(c) }

func (c Code) String() string   { return "[code]" }
func (c Code) GoString() string { return "[code]" }

// Result is one credential's entry in CALCULATE ALL.
type Result struct {
	Name  string
	Code  Code // empty unless computed
	Touch bool // the credential needs a touch: CALCULATE it alone
	HOTP  bool // HOTP credentials are not calculated by CALCULATE ALL
}

// TimeStep returns the TOTP time step of t for a period in seconds (30 if 0).
func TimeStep(t time.Time, period int) uint64 {
	if period <= 0 {
		period = 30
	}
	return uint64(t.Unix()) / uint64(period)
}

// CalculateAll computes the truncated codes of every credential for a time step; touch
// and HOTP credentials are listed but not computed. Credentials whose period is not 30
// seconds are computed by the key for this step too: callers should skip or recompute
// them with their own period (see ParseName).
func (s *Session) CalculateAll(step uint64) ([]Result, error) {
	resp, err := s.send("calculate all", apdu(0x00, insCalculateAll, 0x00, 0x01, tlv(tagChallenge, stepBytes(step))))
	if err != nil {
		return nil, err
	}
	tlvs, err := parseTLVs(resp)
	if err != nil {
		return nil, fmt.Errorf("oath calculate all: %w", err)
	}
	var out []Result
	for i := 0; i+1 < len(tlvs); i += 2 {
		if tlvs[i].tag != tagName {
			return nil, fmt.Errorf("oath calculate all: unexpected tag 0x%02x in the reply", tlvs[i].tag)
		}
		r := Result{Name: string(tlvs[i].value)}
		switch v := tlvs[i+1]; v.tag {
		case tagTruncated:
			c, err := truncatedCode(v.value)
			if err != nil {
				return nil, fmt.Errorf("oath calculate all %q: %w", r.Name, err)
			}
			r.Code = c
		case tagTouch:
			r.Touch = true
		case tagHOTP:
			r.HOTP = true
		default:
			return nil, fmt.Errorf("oath calculate all %q: unexpected tag 0x%02x in the reply", r.Name, v.tag)
		}
		out = append(out, r)
	}
	return out, nil
}

// Calculate computes one credential's code for a challenge step (for TOTP the time step;
// HOTP credentials ignore it and advance their counter). For a touch credential the key
// waits for a touch; when none comes it answers an error matching ErrTouchTimeout.
func (s *Session) Calculate(name string, step uint64) (Code, error) {
	data := tlv(tagName, []byte(name))
	data = append(data, tlv(tagChallenge, stepBytes(step))...)
	resp, err := s.send("calculate", apdu(0x00, insCalculate, 0x00, 0x01, data))
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.SW == swAuthRequired && !s.Locked() {
			return "", fmt.Errorf("oath calculate %q: %w", name, ErrTouchTimeout)
		}
		return "", fmt.Errorf("oath calculate %q: %w", name, err)
	}
	tlvs, err := parseTLVs(resp)
	if err != nil || len(tlvs) == 0 || tlvs[0].tag != tagTruncated {
		return "", fmt.Errorf("oath calculate %q: the key's reply is malformed", name)
	}
	return truncatedCode(tlvs[0].value)
}

// NewCredential is a credential to PUT on the key.
type NewCredential struct {
	Name         string
	Type         Type      // TOTP if 0
	Algorithm    Algorithm // SHA1 if 0
	Digits       int       // 6 if 0
	Secret       []byte
	RequireTouch bool
	Counter      uint32 // initial HOTP counter
}

// Put adds a credential, replacing one of the same name.
func (s *Session) Put(c NewCredential) error {
	if c.Type == 0 {
		c.Type = TOTP
	}
	if c.Algorithm == 0 {
		c.Algorithm = SHA1
	}
	if c.Digits == 0 {
		c.Digits = 6
	}
	if len(c.Name) == 0 || len(c.Name) > 64 {
		return fmt.Errorf("oath put: credential name must be 1 to 64 bytes, got %d", len(c.Name))
	}
	if c.Digits < 6 || c.Digits > 8 {
		return fmt.Errorf("oath put %q: digits must be 6, 7 or 8", c.Name)
	}
	h := c.Algorithm.Hash()
	if h == nil {
		return fmt.Errorf("oath put %q: unsupported algorithm %v", c.Name, c.Algorithm)
	}
	secret := ShapeSecret(c.Algorithm, c.Secret)
	key := append([]byte{byte(c.Type) | byte(c.Algorithm), byte(c.Digits)}, secret...)
	data := tlv(tagName, []byte(c.Name))
	data = append(data, tlv(tagKey, key)...)
	if c.RequireTouch {
		data = append(data, tagProperty, PropertyRequireTouch)
	}
	if c.Type == HOTP && c.Counter > 0 {
		data = append(data, tlv(tagIMF, binary.BigEndian.AppendUint32(nil, c.Counter))...)
	}
	_, err := s.send("put", apdu(0x00, insPut, 0, 0, data))
	if err != nil {
		return fmt.Errorf("oath put %q: %w", c.Name, err)
	}
	return nil
}

// ShapeSecret returns the secret as the key stores it: hashed when longer than the
// hash's block, padded with zeros to at least 14 bytes (HMAC pads keys anyway, so the
// codes are unchanged).
func ShapeSecret(a Algorithm, secret []byte) []byte {
	h := a.Hash()
	if h != nil && len(secret) > h().BlockSize() {
		sum := h()
		sum.Write(secret)
		secret = sum.Sum(nil)
	}
	if len(secret) < 14 {
		secret = append(bytes.Clone(secret), make([]byte, 14-len(secret))...)
	}
	return secret
}

// Delete removes a credential.
func (s *Session) Delete(name string) error {
	if _, err := s.send("delete", apdu(0x00, insDelete, 0, 0, tlv(tagName, []byte(name)))); err != nil {
		return fmt.Errorf("oath delete %q: %w", name, err)
	}
	return nil
}

// ParseName splits a credential id into its period (30 when absent), issuer and
// account: `[period/][issuer:]account`.
func ParseName(id string) (period int, issuer, account string) {
	period = 30
	if p, rest, ok := strings.Cut(id, "/"); ok {
		if n, err := strconv.Atoi(p); err == nil && n > 0 {
			period, id = n, rest
		}
	}
	if i, a, ok := strings.Cut(id, ":"); ok {
		return period, i, a
	}
	return period, "", id
}

// send sends a command in this session, naming the lock when the key refuses it.
func (s *Session) send(op string, cmd []byte) ([]byte, error) {
	resp, err := send(s.t, op, cmd)
	var se *StatusError
	if err != nil && errors.As(err, &se) && se.SW == swAuthRequired && s.Locked() {
		return nil, fmt.Errorf("oath %s: %w", op, ErrLocked)
	}
	return resp, err
}

// send transmits cmd and follows SEND REMAINING chaining (SW 61xx).
func send(t Transmitter, op string, cmd []byte) ([]byte, error) {
	var out []byte
	for {
		resp, err := t.Transmit(cmd)
		if err != nil {
			return nil, fmt.Errorf("oath %s: %w", op, err)
		}
		if len(resp) < 2 {
			return nil, fmt.Errorf("oath %s: the key's reply has no status word", op)
		}
		sw := binary.BigEndian.Uint16(resp[len(resp)-2:])
		out = append(out, resp[:len(resp)-2]...)
		switch {
		case sw == swOK:
			return out, nil
		case sw>>8 == 0x61:
			cmd = []byte{0x00, insSendRemaining, 0x00, 0x00, 0x00}
		default:
			return nil, &StatusError{Op: op, SW: sw}
		}
	}
}

func apdu(cla, ins, p1, p2 byte, data []byte) []byte {
	cmd := []byte{cla, ins, p1, p2}
	if len(data) > 0 {
		cmd = append(cmd, byte(len(data)))
		cmd = append(cmd, data...)
	}
	return cmd
}

func stepBytes(step uint64) []byte { return binary.BigEndian.AppendUint64(nil, step) }

func truncatedCode(v []byte) (Code, error) {
	if len(v) != 5 || v[0] < 6 || v[0] > 10 {
		return "", errors.New("malformed truncated response")
	}
	return FormatCode(binary.BigEndian.Uint32(v[1:]), int(v[0])), nil
}

// FormatCode turns a truncated 4-byte value into a code of digits digits (RFC 4226).
func FormatCode(v uint32, digits int) Code {
	mod := uint64(1)
	for range digits {
		mod *= 10
	}
	return Code(fmt.Sprintf("%0*d", digits, uint64(v&0x7FFFFFFF)%mod))
}
