package tpmtoken

import (
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// Sentinel errors. Wrapped errors carry the detail and a hint; test with errors.Is.
var (
	// ErrNoHMACSHA1 means the TPM does not offer keyed-hash HMAC-SHA1 objects, which
	// TOTP for IAM needs (newer TPM profiles can disable SHA-1).
	ErrNoHMACSHA1 = errors.New("the tpm does not offer hmac-sha1 keys, which iam's totp codes need")
	// ErrAddress means a --tpm address is not one of the supported forms.
	ErrAddress = errors.New("unsupported tpm address")
	// ErrOpen means the TPM could not be reached.
	ErrOpen = errors.New("cannot open the tpm")
	// ErrSeed means a seed is empty or is not base32 as IAM returns it.
	ErrSeed = errors.New("invalid seed")
	// ErrNotFound means the store has no entry for a serial number.
	ErrNotFound = errors.New("no such device in the tpm store")
	// ErrExists means the store already has an entry for a serial number.
	ErrExists = errors.New("the device is already in the tpm store")
	// ErrStore means the store directory or an entry in it is unusable.
	ErrStore = errors.New("tpm store")
	// ErrAuth means the key's authValue is missing or wrong.
	ErrAuth = errors.New("wrong or missing tpm key authValue")
	// ErrLockout means the TPM's dictionary-attack protection is locking out
	// authorisation attempts after too many wrong authValues.
	ErrLockout = errors.New("the tpm is in dictionary-attack lockout")
	// ErrOtherTPM means a key blob does not load under this TPM's storage key: it was
	// made on another TPM, or this TPM's owner hierarchy was cleared.
	ErrOtherTPM = errors.New("the key was made on another tpm, or this tpm was cleared")
	// ErrOwnerAuth means the owner hierarchy has an authValue, so the storage key
	// cannot be created.
	ErrOwnerAuth = errors.New("the tpm owner hierarchy needs an authValue")
)

// tpmError turns a TPM response code into one of the sentinels where one applies,
// keeping the response code for detail. The response code never includes secrets.
func tpmError(op string, err error) error {
	var rc tpm2.TPMRC
	if !errors.As(err, &rc) {
		// Not a TPM response: the transport failed (swtpm stopped, device gone).
		return fmt.Errorf("%s: %w: %w (is the tpm still reachable?)", op, ErrOpen, err)
	}
	switch {
	case errors.Is(rc, tpm2.TPMRCAuthFail), errors.Is(rc, tpm2.TPMRCBadAuth):
		return fmt.Errorf("%s: %w (%v); use --tpm-key-auth and the authValue given at import", op, ErrAuth, rc)
	case errors.Is(rc, tpm2.TPMRCLockout):
		return fmt.Errorf("%s: %w (%v); wait for the lockout to expire or reset it with the lockout authorization", op, ErrLockout, rc)
	case errors.Is(rc, tpm2.TPMRCObjectMemory):
		return fmt.Errorf("%s: the tpm is out of object slots (%v); another program may be holding transient objects (swtpm has no resource manager)", op, rc)
	}
	return fmt.Errorf("%s: %w", op, rc)
}
