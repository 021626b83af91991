package vyubikey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/tokenbatch/tokenbatch/ykoath"
)

// pivApplet holds one generated P-256 key in slot 9e (card authentication: PIN policy
// never, so it signs without a PIN) and the device attestation key in slot f9.
type pivApplet struct {
	mu          sync.Mutex
	cfg         Config
	attestKey   *ecdsa.PrivateKey
	attestCert  *x509.Certificate
	slot9e      *ecdsa.PrivateKey
	pinVerified bool
}

const (
	algECCP256   = 0x11
	slotCardAuth = 0x9e
	defaultPIN   = "123456"
)

func newPIV(cfg Config, ca *CA) (*pivApplet, error) {
	p := &pivApplet{cfg: cfg}
	var err error
	if p.attestKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{CommonName: "Yubico PIV Attestation"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if p.attestCert, err = issue(tmpl, ca.Cert, p.attestKey.Public(), ca.Key); err != nil {
		return nil, fmt.Errorf("virtual yubikey attestation certificate: %w", err)
	}
	if !cfg.NoPIVKey {
		if p.slot9e, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *pivApplet) reset() {
	p.mu.Lock()
	p.pinVerified = false
	p.mu.Unlock()
}

// slotCert is what ATTEST returns: the slot key's certificate, signed by the attestation
// key, with Yubico's extensions.
func (p *pivApplet) slotCert(slot byte) ([]byte, error) {
	serial, _ := asn1.Marshal(int64(p.cfg.Serial))
	v := p.cfg.Version
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("YubiKey PIV Attestation %02x", slot)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		ExtraExtensions: []pkix.Extension{
			{Id: extFirmware, Value: v[:]},
			{Id: extSerial, Value: serial},
			{Id: extPolicy, Value: []byte{0x01, 0x01}}, // PIN never, touch never
			{Id: extFormFactor, Value: []byte{0x01}},
		},
	}
	c, err := issue(tmpl, p.attestCert, p.slot9e.Public(), p.attestKey)
	if err != nil {
		return nil, err
	}
	return c.Raw, nil
}

func (p *pivApplet) handle(c command) ([]byte, uint16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch c.ins {
	case 0xFD: // GET VERSION
		v := p.cfg.Version
		return v[:], swOK
	case 0xF8: // GET SERIAL
		return binary.BigEndian.AppendUint32(nil, p.cfg.Serial), swOK
	case 0xCB: // GET DATA: only the attestation certificate object 5FFF01
		if string(c.data) != "\x5c\x03\x5f\xff\x01" {
			return nil, swNotFound
		}
		inner := append(ykoath.TLV(0x70, p.attestCert.Raw), 0x71, 0x01, 0x00, 0xFE, 0x00)
		return ykoath.TLV(0x53, inner), swOK
	case 0xF9: // ATTEST
		if c.p1 != slotCardAuth || p.slot9e == nil {
			return nil, swWrongData
		}
		der, err := p.slotCert(c.p1)
		if err != nil {
			return nil, 0x6F00
		}
		return der, swOK
	case 0xF7: // GET METADATA
		if c.p2 != slotCardAuth || p.slot9e == nil {
			return nil, swNotFound
		}
		pub := elliptic.Marshal(elliptic.P256(), p.slot9e.X, p.slot9e.Y) //nolint:staticcheck // uncompressed point, as the card sends
		out := ykoath.TLV(0x01, []byte{algECCP256})
		out = append(out, ykoath.TLV(0x02, []byte{0x01, 0x01})...)
		out = append(out, ykoath.TLV(0x03, []byte{0x01})...)
		out = append(out, ykoath.TLV(0x04, ykoath.TLV(0x86, pub))...)
		return out, swOK
	case 0x20: // VERIFY PIN
		if c.p2 != 0x80 {
			return nil, swNotFound
		}
		if len(c.data) == 0 {
			if p.pinVerified {
				return nil, swOK
			}
			return nil, swVerifyFailed | 3
		}
		pin := string(trimFF(c.data))
		if pin != defaultPIN {
			return nil, swVerifyFailed | 2
		}
		p.pinVerified = true
		return nil, swOK
	case 0x87: // GENERAL AUTHENTICATE: sign a digest with slot 9e
		if c.p1 != algECCP256 || c.p2 != slotCardAuth || p.slot9e == nil {
			return nil, swWrongData
		}
		digest, ok := authDigest(c.data)
		if !ok {
			return nil, swWrongData
		}
		sig, err := ecdsa.SignASN1(rand.Reader, p.slot9e, digest)
		if err != nil {
			return nil, 0x6F00
		}
		return ykoath.TLV(0x7C, ykoath.TLV(0x82, sig)), swOK
	}
	return nil, swInsNotSupp
}

// authDigest reads 7C { 82 00, 81 <digest> }.
func authDigest(b []byte) ([]byte, bool) {
	tags, vals, err := ykoath.ParseTLVs(b)
	if err != nil || len(tags) != 1 || tags[0] != 0x7C {
		return nil, false
	}
	tags, vals, err = ykoath.ParseTLVs(vals[0])
	if err != nil {
		return nil, false
	}
	for i, t := range tags {
		if t == 0x81 && len(vals[i]) > 0 {
			return vals[i], true
		}
	}
	return nil, false
}

func trimFF(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0xFF {
		b = b[:len(b)-1]
	}
	return b
}
