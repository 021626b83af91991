//go:build cgo

package yubikey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/go-piv/piv-go/v2/piv"
)

// attestSlots are tried in order: 9e first, as its key signs without a PIN.
var attestSlots = []piv.Slot{piv.SlotCardAuthentication, piv.SlotAuthentication, piv.SlotSignature, piv.SlotKeyManagement}

// attest opens the key's PIV applet, verifies the attestation of the first slot that
// holds a key against roots (nil: Yubico's), and has that slot sign a fresh challenge.
// piv-go holds the card exclusively until Close, so no other connection may be open.
func attest(reader string, roots *x509.CertPool, wantSerial uint32) (Identity, error) {
	var id Identity
	yk, err := piv.Open(reader)
	if err != nil {
		return id, fmt.Errorf("opening the piv applet: %w", err)
	}
	defer yk.Close()
	v := yk.Version()
	id.Firmware = fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if s, err := yk.Serial(); err == nil {
		id.Serial = s
	}
	id.Attestation = Unattested
	ac, err := yk.AttestationCertificate()
	if err != nil {
		id.AttestationDetail = "no attestation certificate"
		return id, nil
	}
	var slotCert *x509.Certificate
	var slot piv.Slot
	for _, s := range attestSlots {
		if c, err := yk.Attest(s); err == nil {
			slotCert, slot = c, s
			break
		}
	}
	if slotCert == nil {
		id.AttestationDetail = "no key in a piv slot"
		return id, nil
	}
	a, err := (&piv.Verifier{Roots: roots}).Verify(ac, slotCert)
	if err != nil {
		id.AttestationDetail = "attestation does not chain to the trusted roots"
		return id, nil
	}
	serial := id.Serial
	if wantSerial != 0 {
		serial = wantSerial
	}
	if a.Serial != serial {
		id.AttestationDetail = fmt.Sprintf("attestation names serial %d, not the key's %d", a.Serial, serial)
		return id, nil
	}
	id.Attestation = fmt.Sprintf("genuine YubiKey %d", a.Version.Major)
	if a.PINPolicy != piv.PINPolicyNever && slot != piv.SlotCardAuthentication {
		id.AttestationDetail = fmt.Sprintf("slot %s needs a PIN, so presence was not checked", slot)
		return id, nil
	}
	if err := provePresence(yk, slot, slotCert.PublicKey); err != nil {
		id.Attestation = Unattested
		id.AttestationDetail = "the attested slot did not sign a fresh challenge: " + err.Error()
		return id, nil
	}
	id.Attestation += ", present"
	return id, nil
}

// provePresence has the slot sign a random digest and checks the signature with the
// attested public key: the attested key is in this reader now, not replayed.
func provePresence(yk *piv.YubiKey, slot piv.Slot, pub crypto.PublicKey) error {
	priv, err := yk.PrivateKey(slot, pub, piv.KeyAuth{PINPolicy: piv.PINPolicyNever})
	if err != nil {
		return err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return errors.New("the slot key cannot sign")
	}
	var nonce [32]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	digest := sha256.Sum256(nonce[:])
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return err
		}
		if !ecdsa.VerifyASN1(p, digest[:], sig) {
			return errors.New("bad signature")
		}
	case *rsa.PublicKey:
		sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return err
		}
		if err := rsa.VerifyPKCS1v15(p, crypto.SHA256, digest[:], sig); err != nil {
			return errors.New("bad signature")
		}
	case ed25519.PublicKey:
		sig, err := signer.Sign(rand.Reader, nonce[:], crypto.Hash(0))
		if err != nil {
			return err
		}
		if !ed25519.Verify(p, nonce[:], sig) {
			return errors.New("bad signature")
		}
	default:
		return fmt.Errorf("unsupported key type %T", pub)
	}
	return nil
}
