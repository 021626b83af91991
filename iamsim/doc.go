// Package iamsim is an IAM-compatible simulator: it speaks IAM's and STS's Query
// protocol, verifies SigV4 against a fleet's access keys, validates TOTP codes with a
// documented drift model, throttles per account and injects faults. Tests and the demo
// run tokenbatch against it because real IAM cannot be reached from here.
//
// A Fleet (LoadFleet, GenerateFleet) describes the account; NewServer serves it as an
// http.Handler; WriteManifest prints the codes the fleet's tokens show at a time. The
// subpackage simtest starts a server inside a Go test. docs/simulator.md documents the
// fleet format, the TOTP model, the ledger and what is and is not simulated.
//
// The server's logs and ledger never hold authentication codes, seeds or secret keys;
// error messages echo submitted values, as IAM's do.
package iamsim
