package tpmtoken

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tokenbatch/tokenbatch/plan"
)

// TokenKind is plan.Token.Kind and the report's token column for TPM-held devices.
const TokenKind = "tpm"

// Devices returns the devices in the store at dir ("" for the default) as plan
// devices whose codes a Source computes when their turn comes.
func Devices(store string) ([]plan.Device, error) {
	s, err := OpenStore(store, false)
	if err != nil {
		return nil, err
	}
	entries, err := s.List()
	if err != nil {
		return nil, err
	}
	devs := make([]plan.Device, 0, len(entries))
	for _, e := range entries {
		devs = append(devs, plan.Device{
			UserName:     e.UserName,
			SerialNumber: e.SerialNumber,
			AccountID:    e.AccountID,
			Token: &plan.Token{
				Kind:        TokenKind,
				Serial:      TokenKind,
				Credential:  e.SerialNumber,
				Attestation: "tpm-bound key, unattested",
			},
		})
	}
	return devs, nil
}

// AuthFunc returns the authValue of an entry's key. The caller owns the result and
// may zero it after use; Source copies what it keeps.
type AuthFunc func(e Entry) ([]byte, error)

// Source computes codes for stored devices with the TPM; it implements
// executor.CodeSource. It opens the TPM on first use and keeps it open until Close,
// taking one device at a time. After a transport failure (swtpm restarted, say) the
// next call reopens the TPM.
type Source struct {
	store *Store
	addr  string
	auth  AuthFunc

	mu     sync.Mutex
	tpm    *TPM
	auths  map[string][]byte
	failed [][]byte // authValues the TPM refused: not tried again
}

// NewSource returns a Source for the devices in store, computing codes with the TPM
// at addr (see OpenTransport). auth supplies authValues for keys that need one; it
// may be nil when none do. Each authValue is asked for once per Source.
func NewSource(store *Store, addr string, auth AuthFunc) *Source {
	return &Source{store: store, addr: addr, auth: auth, auths: map[string][]byte{}}
}

// Codes returns the codes for the time steps T-1 and T of now, which should be IAM's
// clock. The device is looked up by d.Token.Credential, or else its serial number.
func (s *Source) Codes(ctx context.Context, d plan.Device, now time.Time) (code1, code2 string, err error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	serial := d.SerialNumber
	if d.Token != nil && d.Token.Credential != "" {
		serial = d.Token.Credential
	}
	e, err := s.store.Get(serial)
	if err != nil {
		return "", "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keyAuth, err := s.keyAuth(e)
	if err != nil {
		return "", "", err
	}
	if s.tpm == nil {
		t, err := Open(s.addr)
		if err != nil {
			return "", "", err
		}
		s.tpm = t
	}
	if err := checkStorageKey(e, s.tpm); err != nil {
		return "", "", err
	}
	t := Step(now)
	codes, err := s.tpm.Codes(e.Key, keyAuth, Digits, t-1, t)
	if err != nil {
		if errors.Is(err, ErrOpen) {
			// The connection is gone; drop it so the next device reconnects.
			s.tpm.Close()
			s.tpm = nil
		}
		if errors.Is(err, ErrAuth) && keyAuth != nil {
			s.failed = append(s.failed, keyAuth)
			delete(s.auths, e.SerialNumber)
		}
		return "", "", fmt.Errorf("%s: %w", e.SerialNumber, err)
	}
	return codes[0], codes[1], nil
}

func (s *Source) keyAuth(e Entry) ([]byte, error) {
	if !e.KeyAuth {
		return nil, nil
	}
	if a, ok := s.auths[e.SerialNumber]; ok {
		return a, nil
	}
	if s.auth == nil {
		return nil, fmt.Errorf("%s: %w: its key has an authValue; give --tpm-key-auth", e.SerialNumber, ErrAuth)
	}
	a, err := s.auth(e)
	if err != nil {
		return nil, err
	}
	if err := checkKeyAuth(a); err != nil {
		return nil, err
	}
	for _, f := range s.failed {
		if bytes.Equal(a, f) {
			// Each wrong try counts towards the TPM's dictionary-attack lockout, which
			// would soon shut out every DA-protected key on the machine.
			return nil, fmt.Errorf("%s: %w: the tpm refused this authValue for an earlier device, so it is not tried again", e.SerialNumber, ErrAuth)
		}
	}
	kept := append([]byte(nil), a...)
	s.auths[e.SerialNumber] = kept
	return kept, nil
}

// Close closes the TPM and forgets the authValues.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, a := range s.auths {
		clear(a)
		delete(s.auths, k)
	}
	for _, a := range s.failed {
		clear(a)
	}
	s.failed = nil
	if s.tpm == nil {
		return nil
	}
	err := s.tpm.Close()
	s.tpm = nil
	return err
}

// checkStorageKey tells a key made on another TPM (or before the TPM was cleared)
// from other load failures, before the TPM is asked.
func checkStorageKey(e Entry, t *TPM) error {
	if len(e.StorageKey) > 0 && string(e.StorageKey) != string(t.srkName.Buffer) {
		return fmt.Errorf("%s: %w; import the seed again on this tpm", e.SerialNumber, ErrOtherTPM)
	}
	return nil
}

// AccountFromSerial returns the account ID in a virtual MFA device's serial number
// (arn:aws:iam::ACCOUNT:mfa/NAME), or "" if it is not such an ARN.
func AccountFromSerial(serial string) string {
	parts := strings.SplitN(serial, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "mfa/") {
		return ""
	}
	return parts[4]
}

// DeviceNameFromSerial returns the name in a virtual MFA device's serial number: the
// last element of its path.
func DeviceNameFromSerial(serial string) string {
	parts := strings.SplitN(serial, ":", 6)
	if len(parts) != 6 {
		return ""
	}
	res := parts[5]
	return res[strings.LastIndex(res, "/")+1:]
}

// Enroll imports seed into the TPM and adds e, with the resulting key, to s. The
// caller zeroes seed and keyAuth.
func Enroll(p *TPM, s *Store, e Entry, seed, keyAuth []byte) (Entry, error) {
	if e.SerialNumber == "" || e.UserName == "" {
		return Entry{}, fmt.Errorf("%w: an entry needs a serial number and a user name", ErrStore)
	}
	if _, err := s.Get(e.SerialNumber); err == nil {
		return Entry{}, fmt.Errorf("%w: %s (store %s); to replace it, remove it first with 'tokenbatch tokens delete-tpm'", ErrExists, e.SerialNumber, s.Dir())
	}
	k, err := p.Import(seed, keyAuth)
	if err != nil {
		return Entry{}, err
	}
	e.Key = k
	e.KeyAuth = len(keyAuth) > 0
	e.StorageKey = p.StorageKeyName()
	if e.AccountID == "" {
		e.AccountID = AccountFromSerial(e.SerialNumber)
	}
	if e.DeviceName == "" {
		e.DeviceName = DeviceNameFromSerial(e.SerialNumber)
	}
	if e.Created.IsZero() {
		e.Created = time.Now().UTC().Truncate(time.Second)
	}
	if err := s.Put(e); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// EntryCodes returns the entry's codes for the time steps T-1 and T of now.
func (p *TPM) EntryCodes(e Entry, keyAuth []byte, now time.Time) (code1, code2 string, err error) {
	if err := checkStorageKey(e, p); err != nil {
		return "", "", err
	}
	t := Step(now)
	codes, err := p.Codes(e.Key, keyAuth, Digits, t-1, t)
	if err != nil {
		return "", "", err
	}
	return codes[0], codes[1], nil
}
