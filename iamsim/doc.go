// Package iamsim is an IAM-compatible simulator: it speaks IAM's and STS's Query
// protocol, verifies SigV4 against a fleet's access keys, validates TOTP codes with a
// documented drift model, throttles per account and injects faults. Tests and the demo
// run tokenbatch against it because real IAM cannot be reached from here.
package iamsim
