//go:build cgo

package vyubikey_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/tokenbatch/tokenbatch/internal/vpcdtest"
	"github.com/tokenbatch/tokenbatch/pcsc"
	"github.com/tokenbatch/tokenbatch/vyubikey"
	"github.com/tokenbatch/tokenbatch/ykoath"
)

// rfcSeed is RFC 6238's SHA1 test key.
var rfcSeed = []byte("12345678901234567890")

func TestYkmanInfoAndCodes(t *testing.T) {
	k := vpcdtest.StartKey(t, vyubikey.Config{
		Serial: 12345678,
		Credentials: []vyubikey.Credential{
			{Name: "Amazon Web Services:alice@123456789012", Secret: rfcSeed},
			{Name: "Amazon Web Services:bob@123456789012", Secret: []byte("another secret seed!")},
		},
	})
	out, err := vpcdtest.Ykman(t, "--reader", k.Reader(), "info").CombinedOutput()
	if err != nil {
		t.Fatalf("ykman info: %v\n%s", err, out)
	}
	t.Logf("ykman info:\n%s", out)
	for _, want := range []string{"12345678", "5.4.3"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ykman info does not show %q", want)
		}
	}
	out, err = vpcdtest.Ykman(t, "--reader", k.Reader(), "oath", "accounts", "code").CombinedOutput()
	if err != nil {
		t.Fatalf("ykman oath accounts code: %v\n%s", err, out)
	}
	t.Logf("ykman oath accounts code:\n%s", regexp.MustCompile(`\d{6,8}`).ReplaceAllString(string(out), "******"))
	// ykman asked for the code of its own time step: it must be the RFC 6238 code of the
	// step before, at or after the test's (ykman ran in between).
	now := time.Now()
	for name, seed := range map[string][]byte{"alice": rfcSeed, "bob": []byte("another secret seed!")} {
		m := regexp.MustCompile(`(?m)^Amazon Web Services:` + name + `@123456789012\s+(\d{6})\s*$`).FindSubmatch(out)
		if m == nil {
			t.Errorf("ykman shows no code for %s", name)
			continue
		}
		ok := false
		for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
			want, err := totp.GenerateCodeCustom(base32.StdEncoding.EncodeToString(seed), now.Add(d),
				totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				t.Fatal(err)
			}
			ok = ok || want == string(m[1])
		}
		if !ok {
			t.Errorf("ykman's code for %s is not the RFC 6238 code of the current time step", name)
		}
	}
}

func TestPIVAttestation(t *testing.T) {
	k := vpcdtest.StartKey(t, vyubikey.Config{Serial: 7654321})
	yk, err := piv.Open(k.Reader())
	if err != nil {
		t.Fatal(err)
	}
	defer yk.Close()
	serial, err := yk.Serial()
	if err != nil || serial != 7654321 {
		t.Fatalf("serial = %d, %v", serial, err)
	}
	ac, err := yk.AttestationCertificate()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := yk.Attest(piv.SlotCardAuthentication)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(k.CA().Cert)
	a, err := (&piv.Verifier{Roots: roots}).Verify(ac, sc)
	if err != nil {
		t.Fatal(err)
	}
	if a.Serial != 7654321 || a.Version.Major != 5 {
		t.Errorf("attestation = %+v", a)
	}
	if _, err := piv.Verify(ac, sc); err == nil {
		t.Error("the test CA's attestation verified against Yubico's roots")
	}
	priv, err := yk.PrivateKey(piv.SlotCardAuthentication, sc.PublicKey, piv.KeyAuth{})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("fresh challenge"))
	sig, err := priv.(*piv.ECDSAPrivateKey).Sign(rand.Reader, digest[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(sc.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
		t.Error("slot 9e signature does not verify")
	}
	if _, err := yk.Attest(piv.SlotSignature); err == nil {
		t.Error("attest of an empty slot succeeded")
	}
}

// card is a pcsc card as a ykoath.Transmitter.
func openCard(t *testing.T, reader string) *pcsc.Card {
	t.Helper()
	ctx, err := pcsc.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Release() })
	c, err := ctx.Connect(reader, pcsc.ShareShared)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(pcsc.LeaveCard) })
	return c
}

func TestRFC6238ThroughTheKey(t *testing.T) {
	seed32 := []byte("12345678901234567890123456789012")
	seed64 := []byte("1234567890123456789012345678901234567890123456789012345678901234")
	k := vpcdtest.StartKey(t, vyubikey.Config{Serial: 1, Credentials: []vyubikey.Credential{
		{Name: "sha1", Secret: rfcSeed, Digits: 8},
		{Name: "sha256", Secret: seed32, Digits: 8, Algorithm: ykoath.SHA256},
		{Name: "sha512", Secret: seed64, Digits: 8, Algorithm: ykoath.SHA512},
	}})
	s, err := ykoath.Select(openCard(t, k.Reader()))
	if err != nil {
		t.Fatal(err)
	}
	// RFC 6238 appendix B.
	vectors := []struct {
		unix                 int64
		sha1, sha256, sha512 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	}
	for _, v := range vectors {
		res, err := s.CalculateAll(ykoath.TimeStep(time.Unix(v.unix, 0), 30))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range res {
			got[r.Name] = r.Code.Value()
		}
		if got["sha1"] != v.sha1 || got["sha256"] != v.sha256 || got["sha512"] != v.sha512 {
			t.Errorf("T=%d: got %v, want %s %s %s", v.unix, got, v.sha1, v.sha256, v.sha512)
		}
		one, err := s.Calculate("sha1", ykoath.TimeStep(time.Unix(v.unix, 0), 30))
		if err != nil || one.Value() != v.sha1 {
			t.Errorf("T=%d: calculate sha1 = %v, %v", v.unix, one.Value(), err)
		}
	}
}

// A reset (as pcscd does on power off or SCardDisconnect with reset) locks a
// password-protected applet again; credentials survive.
func TestResetLocksApplet(t *testing.T) {
	k := vpcdtest.StartKey(t, vyubikey.Config{Serial: 2, Password: "pw", Credentials: []vyubikey.Credential{{Name: "a", Secret: rfcSeed}}})
	ctx, err := pcsc.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Release()
	c, err := ctx.Connect(k.Reader(), pcsc.ShareShared)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ykoath.Select(c)
	if err != nil || !s.Locked() {
		t.Fatalf("select: locked=%v %v", s != nil && s.Locked(), err)
	}
	if err := s.Validate([]byte("pw")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(pcsc.ResetCard); err != nil {
		t.Fatal(err)
	}
	c, err = ctx.Connect(k.Reader(), pcsc.ShareShared)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(pcsc.LeaveCard)
	s, err = ykoath.Select(c)
	if err != nil || !s.Locked() {
		t.Fatalf("after reset: locked=%v %v", s != nil && s.Locked(), err)
	}
	if _, err := s.List(); err == nil {
		t.Error("list succeeded on a locked applet after reset")
	}
}
