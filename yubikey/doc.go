// Package yubikey reads attached YubiKeys for tokenbatch: it finds keys over PC/SC,
// identifies each (serial, firmware) and, where a PIV slot holds a key, checks its
// attestation against Yubico's roots and has the slot sign a fresh challenge, so that a
// report can say "genuine YubiKey 5, present". It maps the OATH credentials on the keys
// to IAM virtual MFA devices (by the name AWS's QR code gives them, by a serial ARN in
// the name, or by a mapping file), and serves the executor their codes for time steps
// T-1 and T when each device's turn comes (Source).
//
// A read of a key (SELECT, VALIDATE, two CALCULATE ALL) happens in one PC/SC
// transaction, so no other program re-selects an applet in between. Codes and OATH
// passwords never appear in errors or output.
//
// Identity and attestation use github.com/go-piv/piv-go/v2, which needs cgo; without
// cgo every entry point returns pcsc.ErrNotBuilt.
package yubikey

import (
	"errors"
	"fmt"
)

// Errors. Problems found for one key or credential wrap these.
var (
	ErrNoKeys          = errors.New("no YubiKey found (attach one; virtual readers need --allow-virtual-readers)")
	ErrKeyNotFound     = errors.New("no attached YubiKey has this serial (see 'tokenbatch tokens list')")
	ErrNotYubiKey      = errors.New("the card in this reader is not a YubiKey")
	ErrUnmapped        = errors.New("the credential maps to no IAM virtual MFA device (name it 'Amazon Web Services:DEVICE@ACCOUNT' or add it to --mapping)")
	ErrUnassigned      = errors.New("the IAM virtual MFA device is not assigned to a user")
	ErrOtherAccount    = errors.New("the credential belongs to another AWS account than the credentials in use")
	ErrNoCredential    = errors.New("the credential is no longer on the key")
	ErrPasswordNeeded  = errors.New("the key's oath applet is password protected; give --oath-password or run from a terminal to be asked")
	ErrTouchTimeout    = errors.New("touch timed out: the key was not touched in time")
	ErrKeyUnavailable  = errors.New("the key is no longer attached or does not answer")
	ErrMappingNotFound = errors.New("no such mapping file")
)

// KeyError is a problem with one key.
type KeyError struct {
	Serial string // empty when unknown
	Reader string
	Err    error
}

func (e *KeyError) Error() string {
	if e.Serial != "" {
		return fmt.Sprintf("yubikey %s: %v", e.Serial, e.Err)
	}
	return fmt.Sprintf("reader %q: %v", e.Reader, e.Err)
}

func (e *KeyError) Unwrap() error { return e.Err }

// CredentialError is a problem with one credential on one key.
type CredentialError struct {
	Serial     string
	Credential string
	Err        error
}

func (e *CredentialError) Error() string {
	return fmt.Sprintf("yubikey %s, credential %q: %v", e.Serial, e.Credential, e.Err)
}

func (e *CredentialError) Unwrap() error { return e.Err }
