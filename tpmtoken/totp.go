package tpmtoken

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"time"
)

// Period is the TOTP time step of IAM virtual MFA devices, in seconds.
const Period = 30

// Digits is the length of IAM's codes.
const Digits = 6

// Step is the TOTP time step of t (RFC 6238 with T0 = 0).
func Step(t time.Time) uint64 { return uint64(t.Unix()) / Period }

// SeedCode computes the code of step from seed in software, as the TPM does with
// the imported key; import-tpm uses it to check the key while the seed is still in
// memory. Its intermediate HMAC is zeroed.
func SeedCode(seed []byte, step uint64, digits int) (string, error) {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], step)
	m := hmac.New(sha1.New, seed)
	m.Write(msg[:])
	sum := m.Sum(nil)
	defer clear(sum)
	return truncate(sum, digits)
}

// ParseSeed decodes a Base32StringSeed as IAM returns it (upper-case base32, maybe
// padded); it also accepts lower case and spaces, as people copy seeds. The result is
// the HMAC key; the caller zeroes it. text is not modified, and the scratch copy
// made here is zeroed. Errors never quote the text.
func ParseSeed(text []byte) ([]byte, error) {
	buf := make([]byte, 0, len(text))
	defer func() { clear(buf[:cap(buf)]) }()
	for _, c := range text {
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '-' || c == '=':
			// separators and padding; padding is re-derived from the length
		case c >= 'a' && c <= 'z':
			buf = append(buf, c-'a'+'A')
		default:
			buf = append(buf, c)
		}
	}
	if len(buf) == 0 {
		return nil, fmt.Errorf("%w: it is empty; give the Base32StringSeed from CreateVirtualMFADevice", ErrSeed)
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	seed := make([]byte, enc.DecodedLen(len(buf)))
	n, err := enc.Decode(seed, buf)
	if err != nil {
		clear(seed)
		// base32's error names only an offset, never the input.
		return nil, fmt.Errorf("%w: it is not base32 (%v); give the Base32StringSeed as IAM returned it", ErrSeed, err)
	}
	return seed[:n], nil
}
