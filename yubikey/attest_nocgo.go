//go:build !cgo

package yubikey

import (
	"crypto/x509"

	"github.com/tokenbatch/tokenbatch/pcsc"
)

func attest(reader string, roots *x509.CertPool, wantSerial uint32) (Identity, error) {
	return Identity{Attestation: Unattested}, pcsc.ErrNotBuilt
}
