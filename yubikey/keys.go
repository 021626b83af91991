package yubikey

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tokenbatch/tokenbatch/pcsc"
	"github.com/tokenbatch/tokenbatch/ykoath"
)

// Unattested is the attestation result of a key whose identity could not be proven.
const Unattested = "unattested"

// Identity is who a key is.
type Identity struct {
	Serial   uint32
	Firmware string
	// Attestation is "genuine YubiKey N, present" when a PIV slot's attestation chains
	// to the trusted roots, names this serial, and the slot signed a fresh challenge;
	// "genuine YubiKey N" when the slot needs a PIN; otherwise Unattested.
	Attestation string
	// AttestationDetail says why a key is not fully attested; empty when it is.
	AttestationDetail string
}

// Key is an attached YubiKey and its OATH credentials.
type Key struct {
	Identity
	Reader      string
	Locked      bool // the OATH applet has a password
	Credentials []ykoath.Credential
	Touch       map[string]bool // credentials that need a touch

	password []byte // the OATH password that worked, so a Source does not ask again
}

// SerialString is the key's serial in decimal.
func (k *Key) SerialString() string { return serialString(k.Serial) }

// Options select and read keys.
type Options struct {
	// Devices are the serials of the keys to use (--device); empty means all attached.
	Devices []string
	// AllowVirtualReaders lets readers of virtual smart-card drivers through.
	AllowVirtualReaders bool
	// AttestationRoots verify PIV attestations; nil means Yubico's roots.
	AttestationRoots *x509.CertPool
	// Password gives the OATH password of a protected key (--oath-password, or a prompt).
	Password PasswordFunc
	// TouchTimeout bounds the wait for a touch of a touch-required credential (15 s if 0).
	TouchTimeout time.Duration
	// Prompt receives the touch prompts (stderr); nil discards them.
	Prompt io.Writer
	// AccountID is the AWS account of the credentials in use (STS); empty takes it from
	// the virtual MFA devices IAM lists.
	AccountID string
	// Mapping overrides the credential-name mapping (--mapping).
	Mapping []Mapping
}

func (o *Options) touchTimeout() time.Duration {
	if o.TouchTimeout > 0 {
		return o.TouchTimeout
	}
	return 15 * time.Second
}

// StaticPassword returns a PasswordFunc that gives every key the same password.
func StaticPassword(pw string) PasswordFunc {
	return func(context.Context, string) ([]byte, error) { return []byte(pw), nil }
}

// LoadRoots reads PEM certificates for Options.AttestationRoots.
func LoadRoots(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("attestation roots: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("attestation roots %s: no PEM certificate found (want a file of '-----BEGIN CERTIFICATE-----' blocks)", file)
	}
	return pool, nil
}

// Readers lists the PC/SC readers to look at: virtual ones only when allowed.
func Readers(opts Options) ([]string, error) {
	ctx, err := pcsc.EstablishContext()
	if err != nil {
		return nil, err
	}
	defer ctx.Release()
	all, err := ctx.ListReaders()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range all {
		if IsVirtualReader(r) && !opts.AllowVirtualReaders {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// ListKeys finds the attached keys (all, or those in opts.Devices), identifies them and
// lists their OATH credentials. Readers whose card is not a YubiKey are skipped; a key
// that cannot be read is a problem, and the others go on. It fails with ErrNoKeys when
// no key is found, and reports each serial of opts.Devices not found.
func ListKeys(ctx context.Context, opts Options) ([]*Key, []error, error) {
	readers, err := Readers(opts)
	if err != nil {
		return nil, nil, err
	}
	type result struct {
		key *Key
		err error
	}
	results := make([]result, len(readers))
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Add(1)
		go func() { // one goroutine per card
			defer wg.Done()
			k, err := readKey(ctx, r, opts)
			results[i] = result{k, err}
		}()
	}
	wg.Wait()
	var keys []*Key
	var problems []error
	for i, res := range results {
		switch {
		case res.err == nil:
			if len(opts.Devices) == 0 || slices.Contains(opts.Devices, res.key.SerialString()) {
				keys = append(keys, res.key)
			}
		case errors.Is(res.err, ErrNotYubiKey), errors.Is(res.err, pcsc.ErrNoSmartcard), errors.Is(res.err, pcsc.ErrRemovedCard):
			// an empty reader or another kind of card
		default:
			var ke *KeyError
			if !errors.As(res.err, &ke) {
				res.err = &KeyError{Reader: readers[i], Err: res.err}
			}
			problems = append(problems, res.err)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Serial < keys[j].Serial })
	for _, want := range opts.Devices {
		found := slices.ContainsFunc(keys, func(k *Key) bool { return k.SerialString() == want }) ||
			slices.ContainsFunc(problems, func(err error) bool {
				var ke *KeyError
				return errors.As(err, &ke) && ke.Serial == want
			})
		if !found {
			problems = append(problems, &KeyError{Serial: want, Err: ErrKeyNotFound})
		}
	}
	if len(keys) == 0 {
		if len(problems) > 0 { // keys were found, but none could be read
			return nil, problems, errors.Join(problems...)
		}
		return nil, problems, ErrNoKeys
	}
	return keys, problems, nil
}

// readKey reads one reader: Management and OATH in one transaction, then PIV through
// piv-go (which holds the card exclusively, so only after our connection is closed).
func readKey(ctx context.Context, reader string, opts Options) (*Key, error) {
	c, err := openCard(reader)
	if err != nil {
		return nil, err
	}
	k := &Key{Reader: reader, Touch: map[string]bool{}}
	var info deviceInfo
	err = c.inTransaction(func() error {
		if info, err = readDeviceInfo(c); err != nil {
			return err
		}
		k.Serial, k.Firmware = info.Serial, info.Version
		if len(opts.Devices) > 0 && info.Serial != 0 && !slices.Contains(opts.Devices, serialString(info.Serial)) {
			return nil // not selected: do not ask for its password
		}
		s, err := ykoath.Select(c)
		if errors.Is(err, ykoath.ErrNotFound) {
			return nil // OATH disabled or absent
		}
		if err != nil {
			return err
		}
		k.Locked = s.Locked()
		if k.Locked {
			remember := func(ctx context.Context, serial string) ([]byte, error) {
				if opts.Password == nil {
					return nil, ErrPasswordNeeded
				}
				pw, err := opts.Password(ctx, serial)
				k.password = append([]byte(nil), pw...)
				return pw, err
			}
			if s, err = openOATH(ctx, c, serialString(info.Serial), remember); err != nil {
				clear(k.password)
				k.password = nil
				return err
			}
		}
		if k.Credentials, err = s.List(); err != nil {
			return err
		}
		// CALCULATE ALL tells which credentials need a touch; the step is irrelevant.
		res, err := s.CalculateAll(0)
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Touch {
				k.Touch[r.Name] = true
			}
		}
		return nil
	})
	c.close()
	if err != nil {
		if errors.Is(err, ErrNotYubiKey) {
			return nil, err
		}
		return nil, &KeyError{Serial: serialOrEmpty(info.Serial), Reader: reader, Err: err}
	}
	if len(opts.Devices) > 0 && info.Serial != 0 && !slices.Contains(opts.Devices, serialString(info.Serial)) {
		return k, nil
	}
	id, err := attest(reader, opts.AttestationRoots, info.Serial)
	if err != nil {
		if errors.Is(err, pcsc.ErrNotBuilt) {
			return nil, err
		}
		k.Attestation, k.AttestationDetail = Unattested, "piv: "+err.Error()
		return k, nil
	}
	if k.Serial == 0 {
		k.Serial = id.Serial
	}
	k.Attestation, k.AttestationDetail = id.Attestation, id.AttestationDetail
	return k, nil
}

func serialOrEmpty(s uint32) string {
	if s == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(s), 10)
}
