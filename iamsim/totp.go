package iamsim

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"hash"
	"time"
)

// StepSeconds is the TOTP time step: IAM's virtual and hardware TOTP devices use 30 s.
const StepSeconds = 30

// DefaultResyncWindow is how many steps either side of the server clock ResyncMFADevice
// and EnableMFADevice search for the two codes: 60 steps, ±30 minutes. AWS publishes no
// figure; this is wide enough for any token a person would still call working, and a
// token drifted further must be replaced, as with IAM.
const DefaultResyncWindow = 60

// SignInWindow is how many steps either side of the stored drift sign-in
// (GetSessionToken, AssumeRole) accepts: RFC 6238's recommended one step.
const SignInWindow = 1

// Step returns the TOTP step of t.
func Step(t time.Time) int64 {
	u := t.Unix()
	if u < 0 {
		return (u - StepSeconds + 1) / StepSeconds
	}
	return u / StepSeconds
}

// totp computes RFC 6238 codes (HMAC-SHA1, 6 digits) for one seed. It keeps the keyed
// HMAC and a one-entry cache, so repeated look-ups of a step (sign-in after resync, the
// manifest) cost nothing. It is not safe for concurrent use: the device's lock guards it.
type totp struct {
	mac  hash.Hash
	buf  [8]byte
	sum  []byte
	last int64 // step+1 of the cached code, 0: none
	code uint32
}

func newTOTP(seed []byte) *totp {
	return &totp{mac: hmac.New(sha1.New, seed), sum: make([]byte, 0, sha1.Size)}
}

// code returns the 6-digit code of step as a number (format with formatCode).
func (t *totp) codeAt(step int64) uint32 {
	if t.last == step+1 {
		return t.code
	}
	binary.BigEndian.PutUint64(t.buf[:], uint64(step))
	t.mac.Reset()
	t.mac.Write(t.buf[:])
	t.sum = t.mac.Sum(t.sum[:0])
	off := t.sum[len(t.sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(t.sum[off:off+4]) & 0x7fffffff
	t.code = v % 1000000
	t.last = step + 1
	return t.code
}

// formatCode renders a code with its leading zeros.
func formatCode(c uint32) string {
	var b [6]byte
	for i := 5; i >= 0; i-- {
		b[i] = byte('0' + c%10)
		c /= 10
	}
	return string(b[:])
}

// parseCode parses a 6-digit code already validated by the request parser.
func parseCode(s string) (uint32, bool) {
	if len(s) != 6 {
		return 0, false
	}
	var v uint32
	for i := 0; i < 6; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint32(c-'0')
	}
	return v, true
}

// Code returns the code a token with seed shows at time t when its clock is drift steps
// off. Tests and `sim manifest` use it.
func Code(seed []byte, t time.Time, drift int) string {
	return formatCode(newTOTP(seed).codeAt(Step(t) + int64(drift)))
}
