package vyubikey

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tokenbatch/tokenbatch/ykoath"
)

type oathCred struct {
	name    string
	typ     ykoath.Type
	alg     ykoath.Algorithm
	digits  int
	secret  []byte
	touch   bool
	counter uint32
}

// oathApplet holds the OATH applet's persistent state (credentials, password) and its
// per-power-cycle state (challenge, validated).
type oathApplet struct {
	mu        sync.Mutex
	creds     []*oathCred
	salt      []byte
	key       []byte // access key derived from the password; nil when none
	challenge []byte
	validated bool
	touchAt   time.Duration
	touchTO   time.Duration
}

func newOATH(cfg Config) (*oathApplet, error) {
	a := &oathApplet{salt: make([]byte, 8), touchAt: cfg.TouchAfter, touchTO: cfg.TouchTimeout}
	if _, err := rand.Read(a.salt); err != nil {
		return nil, err
	}
	if cfg.Password != "" {
		key, err := ykoath.DeriveKey([]byte(cfg.Password), a.salt)
		if err != nil {
			return nil, err
		}
		a.key = key
	}
	for _, c := range cfg.Credentials {
		if err := a.put(ykoath.NewCredential{Name: c.Name, Type: c.Type, Algorithm: c.Algorithm, Digits: c.Digits,
			Secret: c.Secret, RequireTouch: c.Touch, Counter: c.Counter}); err != nil {
			return nil, fmt.Errorf("virtual yubikey credential %q: %w", c.Name, err)
		}
	}
	a.reset()
	return a, nil
}

func (a *oathApplet) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.validated = false
	a.challenge = make([]byte, 8)
	rand.Read(a.challenge)
}

func (a *oathApplet) put(c ykoath.NewCredential) error {
	if c.Type == 0 {
		c.Type = ykoath.TOTP
	}
	if c.Algorithm == 0 {
		c.Algorithm = ykoath.SHA1
	}
	if c.Digits == 0 {
		c.Digits = 6
	}
	if c.Algorithm.Hash() == nil || len(c.Name) == 0 || len(c.Name) > 64 {
		return errors.New("bad credential")
	}
	nc := &oathCred{name: c.Name, typ: c.Type, alg: c.Algorithm, digits: c.Digits,
		secret: ykoath.ShapeSecret(c.Algorithm, c.Secret), touch: c.RequireTouch, counter: c.Counter}
	for i, old := range a.creds {
		if old.name == c.Name {
			a.creds[i] = nc
			return nil
		}
	}
	if len(a.creds) >= 64 {
		return errors.New("no space")
	}
	a.creds = append(a.creds, nc)
	return nil
}

func (a *oathApplet) selectReply(v [3]byte) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := ykoath.TLV(0x79, v[:])
	out = append(out, ykoath.TLV(0x71, a.salt)...)
	if a.key != nil {
		out = append(out, ykoath.TLV(0x74, a.challenge)...)
		out = append(out, ykoath.TLV(0x7B, []byte{byte(ykoath.SHA1)})...)
	}
	return out
}

func (a *oathApplet) locked() bool { return a.key != nil && !a.validated }

func hmacSum(alg ykoath.Algorithm, key, msg []byte) []byte {
	m := hmac.New(alg.Hash(), key)
	m.Write(msg)
	return m.Sum(nil)
}

func truncate(sum []byte) uint32 {
	off := sum[len(sum)-1] & 0x0F
	return binary.BigEndian.Uint32(sum[off:off+4]) & 0x7FFFFFFF
}

// parseFields splits command data into tags, knowing that the touch property (tag 78)
// has no length byte.
func parseFields(b []byte) (map[byte][]byte, bool) {
	out := map[byte][]byte{}
	for len(b) > 0 {
		tag := b[0]
		if tag == 0x78 {
			if len(b) < 2 {
				return nil, false
			}
			out[tag] = b[1:2]
			b = b[2:]
			continue
		}
		n, hdr := 0, 2
		if len(b) < 2 {
			return nil, false
		}
		switch b[1] {
		case 0x81:
			if len(b) < 3 {
				return nil, false
			}
			n, hdr = int(b[2]), 3
		case 0x82:
			if len(b) < 4 {
				return nil, false
			}
			n, hdr = int(b[2])<<8|int(b[3]), 4
		default:
			n = int(b[1])
		}
		if len(b) < hdr+n {
			return nil, false
		}
		out[tag] = b[hdr : hdr+n]
		b = b[hdr+n:]
	}
	return out, true
}

func (a *oathApplet) handle(ctx context.Context, k *Key, c command) ([]byte, uint16) {
	a.mu.Lock()
	switch c.ins {
	case 0xA3: // VALIDATE
		defer a.mu.Unlock()
		k.count(func(s *Stats) { s.Validate++ })
		f, ok := parseFields(c.data)
		if !ok || a.key == nil {
			return nil, swWrongData
		}
		if !hmac.Equal(f[0x75], hmacSum(ykoath.SHA1, a.key, a.challenge)) || len(f[0x74]) == 0 {
			return nil, swWrongData
		}
		a.validated = true
		return ykoath.TLV(0x75, hmacSum(ykoath.SHA1, a.key, f[0x74])), swOK
	case 0x04: // RESET
		defer a.mu.Unlock()
		if c.p1 != 0xDE || c.p2 != 0xAD {
			return nil, swWrongP1P2
		}
		a.creds, a.key, a.validated = nil, nil, false
		rand.Read(a.salt)
		return nil, swOK
	}
	if a.locked() {
		a.mu.Unlock()
		return nil, swAuthRequired
	}
	switch c.ins {
	case 0xA1: // LIST
		defer a.mu.Unlock()
		var out []byte
		for _, cr := range a.creds {
			out = append(out, ykoath.TLV(0x72, append([]byte{byte(cr.typ) | byte(cr.alg)}, cr.name...))...)
		}
		return out, swOK
	case 0xA4: // CALCULATE ALL
		defer a.mu.Unlock()
		k.count(func(s *Stats) { s.CalculateAll++ })
		f, ok := parseFields(c.data)
		if !ok || len(f[0x74]) == 0 {
			return nil, swWrongData
		}
		var out []byte
		for _, cr := range a.creds {
			out = append(out, ykoath.TLV(0x71, []byte(cr.name))...)
			switch {
			case cr.typ == ykoath.HOTP:
				out = append(out, 0x77, 0x01, byte(cr.digits))
			case cr.touch:
				out = append(out, 0x7C, 0x01, byte(cr.digits))
			default:
				v := truncate(hmacSum(cr.alg, cr.secret, f[0x74]))
				out = append(out, 0x76, 0x05, byte(cr.digits))
				out = binary.BigEndian.AppendUint32(out, v)
			}
		}
		return out, swOK
	case 0xA2: // CALCULATE
		k.count(func(s *Stats) { s.Calculate++ })
		f, ok := parseFields(c.data)
		if !ok {
			a.mu.Unlock()
			return nil, swWrongData
		}
		cr := a.find(string(f[0x71]))
		if cr == nil {
			a.mu.Unlock()
			return nil, swNoSuchObject
		}
		challenge := f[0x74]
		if cr.typ == ykoath.HOTP {
			challenge = binary.BigEndian.AppendUint64(nil, uint64(cr.counter))
			cr.counter++
		}
		touch := cr.touch
		sum := hmacSum(cr.alg, cr.secret, challenge)
		digits := cr.digits
		a.mu.Unlock()
		if touch && !a.waitTouch(ctx, k) {
			return nil, swAuthRequired
		}
		if c.p2 == 0x01 {
			return binary.BigEndian.AppendUint32([]byte{0x76, 0x05, byte(digits)}, truncate(sum)), swOK
		}
		return ykoath.TLV(0x75, append([]byte{byte(digits)}, sum...)), swOK
	case 0x01: // PUT
		defer a.mu.Unlock()
		f, ok := parseFields(c.data)
		key := f[0x73]
		if !ok || len(f[0x71]) == 0 || len(key) < 2 {
			return nil, swWrongData
		}
		nc := ykoath.NewCredential{Name: string(f[0x71]), Type: ykoath.Type(key[0] & 0xF0),
			Algorithm: ykoath.Algorithm(key[0] & 0x0F), Digits: int(key[1]), Secret: key[2:]}
		if p, ok := f[0x78]; ok && p[0]&0x02 != 0 {
			nc.RequireTouch = true
		}
		if imf := f[0x7A]; len(imf) == 4 {
			nc.Counter = binary.BigEndian.Uint32(imf)
		}
		if err := a.put(nc); err != nil {
			if err.Error() == "no space" {
				return nil, swNoSpace
			}
			return nil, swWrongData
		}
		return nil, swOK
	case 0x02: // DELETE
		defer a.mu.Unlock()
		f, ok := parseFields(c.data)
		if !ok {
			return nil, swWrongData
		}
		for i, cr := range a.creds {
			if cr.name == string(f[0x71]) {
				a.creds = append(a.creds[:i], a.creds[i+1:]...)
				return nil, swOK
			}
		}
		return nil, swNoSuchObject
	case 0x03: // SET CODE: 73 00 removes the password; otherwise 73 <alg><key>.
		defer a.mu.Unlock()
		f, ok := parseFields(c.data)
		if !ok {
			return nil, swWrongData
		}
		if len(f[0x73]) == 0 {
			a.key = nil
			return nil, swOK
		}
		a.key = append([]byte(nil), f[0x73][1:]...)
		a.validated = false
		return nil, swOK
	}
	a.mu.Unlock()
	return nil, swInsNotSupp
}

func (a *oathApplet) find(name string) *oathCred {
	for _, cr := range a.creds {
		if cr.name == name {
			return cr
		}
	}
	return nil
}

// waitTouch simulates the user: a touch after TouchAfter, or none (a timeout).
func (a *oathApplet) waitTouch(ctx context.Context, k *Key) bool {
	k.count(func(s *Stats) { s.Touches++ })
	wait, touched := a.touchAt, true
	if wait < 0 {
		wait, touched = a.touchTO, false
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(wait):
		return touched
	}
}

func (k *Key) count(f func(*Stats)) {
	k.mu.Lock()
	f(&k.stats)
	k.mu.Unlock()
}
