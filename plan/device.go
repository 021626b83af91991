// Package plan validates manifest records against IAM's constraints and the account in
// use, and orders them into a Plan: the devices to resync, earliest-collected first, and
// the problems that stop a row. Building a plan changes nothing in IAM (a dry run); with
// CheckIAM it also reads IAM to confirm users and device assignments.
package plan

import "time"

// Device is one MFA device to resync. Manifest rows carry their two codes; devices read
// from tokens (a YubiKey, a TPM) carry a Token and get their codes when their turn comes.
type Device struct {
	UserName     string
	SerialNumber string
	AccountID    string
	Code1, Code2 string // empty when Token computes codes at send time
	CollectedAt  time.Time
	Line         int    // manifest line, 0 for devices found on tokens
	Ticket       string // optional change ticket carried into the report
	Token        *Token
}

// Token says where a device's codes come from when they are not in the manifest.
type Token struct {
	Kind        string `json:"kind"`                  // "yubikey" or "tpm"
	Serial      string `json:"serial"`                // the key's serial number, or "tpm"
	Credential  string `json:"credential"`            // the OATH credential name or TPM store entry
	Attestation string `json:"attestation,omitempty"` // e.g. "genuine YubiKey 5, present", "unattested"
}
