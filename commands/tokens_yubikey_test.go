package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/vpcdtest"
	"github.com/tokenbatch/tokenbatch/pcsc"
	"github.com/tokenbatch/tokenbatch/vyubikey"
)

// startSimYubiKey runs `sim yubikey` on a locked vpcd slot until the test ends.
func startSimYubiKey(t *testing.T, o *simYubiKeyOptions) *vyubikey.Key {
	t.Helper()
	o.ReaderPort = vpcdtest.Slot(t)
	ready := make(chan *vyubikey.Key, 1)
	o.ready = func(k *vyubikey.Key) { ready <- k }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- runSimYubiKey(ctx, IO{Out: &out, ErrOut: &out}, o) }()
	var k *vyubikey.Key
	select {
	case k = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("sim yubikey: %v\n%s", err, out.String())
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sim yubikey: %v", err)
		}
		vpcdtest.WaitCard(t, k.Reader(), false)
	})
	vpcdtest.WaitCard(t, k.Reader(), true)
	return k
}

func TestTokensListVirtualKey(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	startSimYubiKey(t, &simYubiKeyOptions{Fleet: simtest.SampleFleetPath(), Serial: 24681357, Limit: 5,
		Password: "pw-for-test", AttestationCA: caFile})

	run := func(o *tokensListOptions) (string, string, error) {
		var out, errOut bytes.Buffer
		o.iam = iam.NewFromConfig(sim.Config(t))
		if o.Output == "" {
			o.Output = "table"
		}
		if o.TouchTimeout == 0 {
			o.TouchTimeout = 15
		}
		err := runTokensList(t.Context(), IO{Out: &out, ErrOut: &errOut}, o)
		return out.String(), errOut.String(), err
	}

	// Without --allow-virtual-readers the virtual key is not used.
	_, _, err := run(&tokensListOptions{})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), "--allow-virtual-readers") {
		t.Errorf("virtual reader not ignored: %v", err)
	}

	out, errOut, err := run(&tokensListOptions{yubikeyOptions: yubikeyOptions{AllowVirtualReaders: true,
		AttestationRoots: caFile, OATHPassword: "pw-for-test"}})
	if err != nil {
		t.Fatalf("tokens list: %v\n%s", err, errOut)
	}
	for _, want := range []string{"24681357", "5.4.3", "genuine YubiKey 5, present",
		"Amazon Web Services:mfa-admin@123456789012", "arn:aws:iam::123456789012:mfa/mfa-admin"} {
		if !strings.Contains(out, want) {
			t.Errorf("tokens list lacks %q:\n%s", want, out)
		}
	}
	if regexp.MustCompile(`\b\d{6}\b`).MatchString(strings.ReplaceAll(out, "123456789012", "")) {
		t.Errorf("tokens list may show a code:\n%s", out)
	}

	out, _, err = run(&tokensListOptions{Output: "json", yubikeyOptions: yubikeyOptions{AllowVirtualReaders: true,
		OATHPassword: "pw-for-test"}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []listedKey
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 1 || doc.Keys[0].Attestation != "unattested" || len(doc.Keys[0].Credentials) != 5 ||
		doc.Keys[0].Credentials[0].UserName != "mfa-admin" || !doc.Keys[0].PasswordProtected {
		t.Errorf("json: %+v", doc)
	}

	// A wrong password is a clear error naming the key, and never shows the password.
	_, errOut, err = run(&tokensListOptions{yubikeyOptions: yubikeyOptions{AllowVirtualReaders: true, OATHPassword: "nope-wrong"}})
	if err == nil || !strings.Contains(err.Error()+errOut, "wrong oath password") || strings.Contains(err.Error()+errOut, "nope-wrong") {
		t.Errorf("wrong password: %v %s", err, errOut)
	}
}

func TestDiscoverYubiKeysForPlan(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	startSimYubiKey(t, &simYubiKeyOptions{Fleet: simtest.SampleFleetPath(), Serial: 13572468, Skip: 3, Limit: 4,
		UseAlias: true, AttestationCA: filepath.Join(t.TempDir(), "ca.pem")})
	var errOut bytes.Buffer
	devices, src, problems, err := discoverYubiKeys(t.Context(), IO{ErrOut: &errOut},
		&yubikeyOptions{AllowVirtualReaders: true, TouchTimeout: 15}, iam.NewFromConfig(sim.Config(t)), "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if len(devices) != 4 || len(problems) != 0 || devices[0].Token.Serial != "13572468" || devices[0].UserName == "" {
		t.Fatalf("devices %+v problems %v", devices, problems)
	}
	c1, c2, err := src.Codes(t.Context(), devices[0], sim.Now())
	if err != nil || len(c1) != 6 || len(c2) != 6 || c1 == c2 && c1 == "" {
		t.Fatalf("codes: %v", err)
	}
}

func TestYubiKeyExitWithoutCgo(t *testing.T) {
	err := yubikeyExit(pcsc.ErrNotBuilt)
	var ee *ExitError
	if !errors.As(err, &ee) || err.Error() != "smart-card support was not built in (tokenbatch was built without cgo)" {
		t.Errorf("got %v", err)
	}
}
