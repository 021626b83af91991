package tpmtoken

import (
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// hmacBlockSize is SHA-1's block size: HMAC hashes longer keys first, and the TPM
// refuses keyed-hash data longer than that (TPM_RC_SIZE).
const hmacBlockSize = 64

// Key is a TPM-wrapped HMAC key: the marshalled TPM2B_PUBLIC and TPM2B_PRIVATE that
// TPM2_Create returned. Private is encrypted by the TPM's storage key and is useless
// without that TPM; neither contains the seed in clear.
type Key struct {
	Public  []byte `json:"public"`
	Private []byte `json:"private"`
}

// TPM is an open TPM with tokenbatch's storage key loaded. Its methods are safe for
// concurrent use; they take turns, since swtpm serves one command at a time and has
// only three object slots.
type TPM struct {
	mu      sync.Mutex
	t       transport.TPMCloser
	srk     tpm2.TPMHandle
	srkName tpm2.TPM2BName
	srkPub  tpm2.TPMTPublic
}

// Open connects to the TPM at addr (see OpenTransport), checks that it offers
// HMAC-SHA1 keys, and creates the ECC storage key. Close releases both.
func Open(addr string) (*TPM, error) {
	t, err := OpenTransport(addr)
	if err != nil {
		return nil, err
	}
	tpm, err := newTPM(t)
	if err != nil {
		t.Close()
		return nil, err
	}
	return tpm, nil
}

func newTPM(t transport.TPMCloser) (*TPM, error) {
	if err := checkHMACSHA1(t); err != nil {
		return nil, err
	}
	// The ECC SRK template under the owner hierarchy gives the same key after every
	// restart of the same TPM, so it need not be made persistent; ECC takes well under
	// a millisecond where RSA takes tens.
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(t)
	if err != nil {
		var rc tpm2.TPMRC
		if errors.As(err, &rc) && (errors.Is(rc, tpm2.TPMRCBadAuth) || errors.Is(rc, tpm2.TPMRCAuthFail)) {
			return nil, fmt.Errorf("creating the storage key: %w (%v); tokenbatch uses the owner hierarchy with an empty authValue", ErrOwnerAuth, rc)
		}
		return nil, tpmError("creating the storage key", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		flush(t, rsp.ObjectHandle)
		return nil, fmt.Errorf("reading the storage key: %w", err)
	}
	return &TPM{t: t, srk: rsp.ObjectHandle, srkName: rsp.Name, srkPub: *pub}, nil
}

// keyedHashParms are the parameters of an HMAC-SHA1 signing key.
func keyedHashParms() *tpm2.TPMSKeyedHashParms {
	return &tpm2.TPMSKeyedHashParms{
		Scheme: tpm2.TPMTKeyedHashScheme{
			Scheme:  tpm2.TPMAlgHMAC,
			Details: tpm2.NewTPMUSchemeKeyedHash(tpm2.TPMAlgHMAC, &tpm2.TPMSSchemeHMAC{HashAlg: tpm2.TPMAlgSHA1}),
		},
	}
}

// checkHMACSHA1 asks the TPM whether it would accept an HMAC-SHA1 keyed-hash key, so
// a TPM with SHA-1 disabled fails with a clear error before anything is created.
func checkHMACSHA1(t transport.TPM) error {
	_, err := tpm2.TestParms{Parameters: tpm2.TPMTPublicParms{
		Type:       tpm2.TPMAlgKeyedHash,
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, keyedHashParms()),
	}}.Execute(t)
	if err == nil {
		return nil
	}
	var rc tpm2.TPMRC
	if errors.As(err, &rc) {
		return fmt.Errorf("%w (%v); enable sha1 in the tpm's profile, or use another token for this device", ErrNoHMACSHA1, rc)
	}
	return tpmError("checking for hmac-sha1", err)
}

// Close flushes the storage key and closes the transport.
func (p *TPM) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.t == nil {
		return nil
	}
	err := flush(p.t, p.srk)
	if cerr := p.t.Close(); err == nil {
		err = cerr
	}
	p.t = nil
	return err
}

// StorageKeyName identifies the storage key the TPM's keys are wrapped under; it
// changes only when the owner hierarchy is cleared.
func (p *TPM) StorageKeyName() []byte { return append([]byte(nil), p.srkName.Buffer...) }

// Import wraps seed (the HMAC key: the base32-decoded Base32StringSeed) as an
// HMAC-SHA1 key that never leaves this TPM, protected by keyAuth if not empty.
// The seed travels encrypted in a session salted with the storage key. Import does
// not keep or modify seed; the caller zeroes it.
func (p *TPM) Import(seed, keyAuth []byte) (Key, error) {
	if len(seed) == 0 {
		return Key{}, fmt.Errorf("%w: it is empty", ErrSeed)
	}
	if err := checkKeyAuth(keyAuth); err != nil {
		return Key{}, err
	}
	data := seed
	if len(seed) > hmacBlockSize {
		// HMAC uses SHA1(key) for keys longer than the block size, so the TPM gets that
		// and computes the same codes.
		h := sha1.Sum(seed)
		data = h[:]
		defer clear(h[:])
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.t == nil {
		return Key{}, fmt.Errorf("%w: it was closed", ErrOpen)
	}
	tmpl := tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:    true,
			FixedParent: true,
			// The seed comes from IAM, not the TPM: true here is TPM_RC_ATTRIBUTES.
			SensitiveDataOrigin: false,
			UserWithAuth:        true,
			// Without an authValue there is nothing to guess; with one, wrong guesses
			// count towards the TPM's dictionary-attack lockout.
			NoDA:        len(keyAuth) == 0,
			SignEncrypt: true,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, keyedHashParms()),
	}
	sens := tpm2.TPM2BSensitiveData{Buffer: data}
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: p.srk, Name: p.srkName, Auth: p.session(nil)},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			UserAuth: tpm2.TPM2BAuth{Buffer: keyAuth},
			Data:     tpm2.NewTPMUSensitiveCreate(&sens),
		}},
		InPublic: tpm2.New2B(tmpl),
	}.Execute(p.t)
	if err != nil {
		var rc tpm2.TPMRC
		if errors.As(err, &rc) && (errors.Is(rc, tpm2.TPMRCHash) || errors.Is(rc, tpm2.TPMRCScheme)) {
			return Key{}, fmt.Errorf("importing the seed: %w (%v)", ErrNoHMACSHA1, rc)
		}
		return Key{}, tpmError("importing the seed", err)
	}
	return Key{Public: tpm2.Marshal(rsp.OutPublic), Private: tpm2.Marshal(rsp.OutPrivate)}, nil
}

// session is a one-command HMAC session salted with the storage key, encrypting the
// first parameter both ways: the seed or time step going in, the HMAC coming out.
func (p *TPM) session(auth []byte) tpm2.Session {
	return tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Auth(auth),
		tpm2.Salted(p.srk, p.srkPub), tpm2.AESEncryption(128, tpm2.EncryptInOut))
}

// Codes computes TOTP codes of the given number of digits for the given time steps
// with key k: TPM2_HMAC over each 8-byte big-endian step, then RFC 4226 dynamic
// truncation. The key is loaded once and flushed before Codes returns.
func (p *TPM) Codes(k Key, keyAuth []byte, digits int, steps ...uint64) ([]string, error) {
	if digits < 6 || digits > 9 {
		return nil, fmt.Errorf("codes of %d digits are not supported; use 6 to 9", digits)
	}
	pub, priv, err := k.unmarshal()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.t == nil {
		return nil, fmt.Errorf("%w: it was closed", ErrOpen)
	}
	loaded, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: p.srk, Name: p.srkName, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    priv,
		InPublic:     pub,
	}.Execute(p.t)
	if err != nil {
		var rc tpm2.TPMRC
		if errors.As(err, &rc) && isWrongParent(rc) {
			return nil, fmt.Errorf("loading the key: %w (%v); import the seed again on this tpm", ErrOtherTPM, rc)
		}
		return nil, tpmError("loading the key", err)
	}
	defer flush(p.t, loaded.ObjectHandle)
	// One session for all steps: a salted session costs the TPM an ECDH operation.
	sess, closeSess, err := tpm2.HMACSession(p.t, tpm2.TPMAlgSHA256, 16, tpm2.Auth(keyAuth),
		tpm2.Salted(p.srk, p.srkPub), tpm2.AESEncryption(128, tpm2.EncryptInOut))
	if err != nil {
		return nil, tpmError("starting a session", err)
	}
	defer closeSess()
	codes := make([]string, 0, len(steps))
	var msg [8]byte
	for _, step := range steps {
		binary.BigEndian.PutUint64(msg[:], step)
		rsp, err := tpm2.Hmac{
			Handle:  tpm2.AuthHandle{Handle: loaded.ObjectHandle, Name: loaded.Name, Auth: sess},
			Buffer:  tpm2.TPM2BMaxBuffer{Buffer: msg[:]},
			HashAlg: tpm2.TPMAlgSHA1,
		}.Execute(p.t)
		if err != nil {
			return nil, tpmError("computing a code", err)
		}
		code, err := truncate(rsp.OutHMAC.Buffer, digits)
		clear(rsp.OutHMAC.Buffer)
		if err != nil {
			return nil, err
		}
		codes = append(codes, code)
	}
	return codes, nil
}

// isWrongParent reports the response codes of TPM2_Load for a blob wrapped under a
// different storage key: its integrity HMAC or its decryption does not check out.
func isWrongParent(rc tpm2.TPMRC) bool {
	return errors.Is(rc, tpm2.TPMRCIntegrity) || errors.Is(rc, tpm2.TPMRCSize) ||
		errors.Is(rc, tpm2.TPMRCValue) || errors.Is(rc, tpm2.TPMRCBinding)
}

func (k Key) unmarshal() (tpm2.TPM2BPublic, tpm2.TPM2BPrivate, error) {
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](k.Public)
	if err != nil {
		return tpm2.TPM2BPublic{}, tpm2.TPM2BPrivate{}, fmt.Errorf("%w: the key's public part does not parse: %v", ErrStore, err)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](k.Private)
	if err != nil {
		return tpm2.TPM2BPublic{}, tpm2.TPM2BPrivate{}, fmt.Errorf("%w: the key's private part does not parse: %v", ErrStore, err)
	}
	// Refuse blobs that are not what Import makes, rather than compute codes with them.
	contents, err := pub.Contents()
	if err != nil || contents.Type != tpm2.TPMAlgKeyedHash || !contents.ObjectAttributes.FixedTPM {
		return tpm2.TPM2BPublic{}, tpm2.TPM2BPrivate{}, fmt.Errorf("%w: the key is not a tpm-bound hmac key", ErrStore)
	}
	return *pub, *priv, nil
}

// maxKeyAuth is the size of the key's name algorithm's digest (SHA-256), the longest
// authValue the TPM accepts.
const maxKeyAuth = 32

func checkKeyAuth(keyAuth []byte) error {
	if len(keyAuth) > maxKeyAuth {
		return fmt.Errorf("%w: the authValue is %d bytes, longer than the tpm's limit of %d; choose a shorter one", ErrAuth, len(keyAuth), maxKeyAuth)
	}
	return nil
}

func flush(t transport.TPM, h tpm2.TPMHandle) error {
	_, err := tpm2.FlushContext{FlushHandle: h}.Execute(t)
	return err
}

// truncate is RFC 4226's dynamic truncation of an HMAC-SHA1 result to digits.
func truncate(mac []byte, digits int) (string, error) {
	if len(mac) != sha1.Size {
		return "", fmt.Errorf("the tpm returned a %d-byte hmac, not sha-1's 20 bytes", len(mac))
	}
	off := mac[len(mac)-1] & 0x0f
	bin := binary.BigEndian.Uint32(mac[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod), nil
}
