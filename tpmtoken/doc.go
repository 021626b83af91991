// Package tpmtoken keeps AWS IAM virtual MFA devices inside a TPM 2.0: the device's
// seed is imported once, over a salted and parameter-encrypted session, as a
// keyed-hash HMAC-SHA1 object that cannot leave the TPM (FixedTPM, FixedParent), and
// every code afterwards is computed by TPM2_HMAC on the 8-byte time step. Only the
// TPM-wrapped key blobs are kept on disk, in a Store indexed by IAM serial number.
//
// The package talks to the TPM with github.com/google/go-tpm's tpm2 API, through
// /dev/tpmrm0, a TCP socket or a Unix socket (swtpm). Keys are created under an ECC
// storage key derived from the owner hierarchy's primary seed, so the same key blobs
// load again after the TPM (or swtpm on the same state directory) restarts.
//
// Seeds, authValues, HMAC results and codes are never written to the store, logs or
// errors; seeds are held in memory only as long as the import takes and then zeroed.
package tpmtoken
