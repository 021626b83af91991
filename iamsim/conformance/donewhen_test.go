package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDoneWhenAWSCLIv2ResyncMFADevice is issue 2's "Done when" scenario, with the AWS
// CLI v2 (/usr/bin/aws): a resync with a row of `sim manifest` exits 0 and prints
// nothing; the same codes again are rejected; a wrong code exits 254 with
// "(InvalidAuthenticationCode)"; past the rate limit the client sees Throttling; `aws
// sts get-session-token` with the device's current code fails before the resync of a
// drifted device and succeeds after it.
//
// The simulator's clock starts at a fixed time (--clock), so the codes are known. The
// manifest is the one collected during the step before: a resync with the codes of
// the step the token shows now would make that step "used", and a sign-in with the
// token's current code would then rightly be rejected as a replay.
func TestDoneWhenAWSCLIv2ResyncMFADevice(t *testing.T) {
	t.Parallel()
	f := loadFleet(t)
	at := fixedTime()
	s := startSim(t, "--clock", at.Format(time.RFC3339))
	// The rate limit gets its own simulator: one call per 100 s after a burst of one.
	throttled := startSim(t, "--clock", at.Format(time.RFC3339), "--rate", "0.01", "--burst", "1")

	// A drifted device whose user can sign in with a key of their own.
	d := f.device(t, "drifted device whose user has an access key", func(d device) bool {
		return drifted("")(d) && f.hasKey(d.UserName)
	})
	userKey, userSecret := f.key(t, d.UserName)
	asUser := cliV2(t, s, userKey, userSecret)
	asAdmin := cliV2(t, s, accessKeyID, secretAccessKey)

	// The manifest's row agrees with RFC 6238 for the token's seed and drift.
	collected := at.Add(-step)
	row, ok := manifest(t, collected)[d.SerialNumber]
	if !ok {
		t.Fatalf("sim manifest has no row for %s", d.SerialNumber)
	}
	if row.UserName != d.UserName {
		t.Errorf("sim manifest: %s belongs to %q, want %q", d.SerialNumber, row.UserName, d.UserName)
	}
	if row.Code1 != totpCode(t, d.Seed, collected.Add(-step), d.DriftSteps) || row.Code2 != totpCode(t, d.Seed, collected, d.DriftSteps) {
		t.Errorf("sim manifest: the codes of %s are not the token's (drift %d steps) at %s and the step before", d.SerialNumber, d.DriftSteps, collected.Format(time.RFC3339))
	}

	signIn := func() result {
		t.Helper()
		return asUser.run(t, "sts", "get-session-token", "--serial-number", d.SerialNumber,
			"--token-code", totpCode(t, d.Seed, s.now(), d.DriftSteps), "--output", "json")
	}
	resync := func(c cli, code1, code2 string) result {
		t.Helper()
		return c.run(t, "iam", "resync-mfa-device", "--user-name", d.UserName, "--serial-number", d.SerialNumber,
			"--authentication-code1", code1, "--authentication-code2", code2)
	}

	// Before the resync, sign-in with the token's current code fails.
	wantServiceError(t, "get-session-token before the resync", signIn(), 254, "AccessDenied")

	if r := resync(asAdmin, row.Code1, row.Code2); r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Fatalf("resync-mfa-device with the manifest's codes: want exit 0 and no output, got %s", r)
	}
	wantServiceError(t, "resync-mfa-device with the same codes again", resync(asAdmin, row.Code1, row.Code2), 254, "InvalidAuthenticationCode")
	wrong := resync(asAdmin, row.Code1, wrongCode(row.Code2))
	wantServiceError(t, "resync-mfa-device with a wrong code", wrong, 254, "InvalidAuthenticationCode")
	if !strings.Contains(wrong.Stderr, "(InvalidAuthenticationCode)") {
		t.Errorf("resync-mfa-device with a wrong code: stderr %q lacks \"(InvalidAuthenticationCode)\"", wrong.Stderr)
	}

	// After it, the same sign-in succeeds with session credentials.
	r := signIn()
	if r.Code != 0 {
		t.Fatalf("get-session-token after the resync: want exit 0, got %s", r)
	}
	var session struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &session); err != nil {
		t.Fatalf("get-session-token: output is not json: %v", err)
	}
	c := session.Credentials
	if !strings.HasPrefix(c.AccessKeyId, "ASIA") || c.SecretAccessKey == "" || c.SessionToken == "" {
		t.Errorf("get-session-token: want temporary credentials (ASIA..., a secret, a token), got key id %q", c.AccessKeyId)
	}
	if exp, err := time.Parse(time.RFC3339, c.Expiration); err != nil || exp.Before(at) {
		t.Errorf("get-session-token: expiration %q is not a time after the simulator's clock %s", c.Expiration, at.Format(time.RFC3339))
	}

	// The ledger shows each call once, with its outcome.
	var got []string
	for _, e := range ledgerFor(s.ledger(t), d.SerialNumber) {
		got = append(got, e.Action+" "+e.Outcome)
		if e.RequestID == "" || e.UserName != d.UserName {
			t.Errorf("ledger entry %+v: want a request id and user %q", e, d.UserName)
		}
	}
	want := []string{"GetSessionToken AccessDenied", "ResyncMFADevice ok", "ResyncMFADevice InvalidAuthenticationCode",
		"ResyncMFADevice InvalidAuthenticationCode", "GetSessionToken ok"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("ledger for %s:\n got  %q\n want %q", d.SerialNumber, got, want)
	}

	// Past the rate limit, the client sees Throttling (one attempt: AWS_MAX_ATTEMPTS=1).
	limited := cliV2(t, throttled, accessKeyID, secretAccessKey)
	resyncT := func() result {
		return limited.run(t, "iam", "resync-mfa-device", "--user-name", d.UserName, "--serial-number", d.SerialNumber,
			"--authentication-code1", row.Code1, "--authentication-code2", row.Code2)
	}
	if r := resyncT(); r.Code != 0 {
		t.Fatalf("first resync-mfa-device on the rate-limited simulator: want exit 0, got %s", r)
	}
	r = resyncT()
	wantServiceError(t, "resync-mfa-device past the rate limit", r, 254, "Throttling")
	if !strings.Contains(r.Stderr, "Rate exceeded") {
		t.Errorf("resync-mfa-device past the rate limit: stderr %q lacks IAM's message \"Rate exceeded\"", r.Stderr)
	}
	entries := ledgerFor(throttled.ledger(t), d.SerialNumber)
	if len(entries) != 2 || entries[0].Outcome != "ok" || entries[1].Outcome != "Throttling" {
		t.Errorf("ledger of the rate-limited simulator: want ok then Throttling, got %+v", entries)
	}
}

// wrongCode returns a six-digit code different from c.
func wrongCode(c string) string {
	var n int
	fmt.Sscanf(c, "%d", &n)
	return fmt.Sprintf("%06d", (n+500000)%1000000)
}
