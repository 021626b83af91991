package tpmtoken_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/tpmtoken"
	"github.com/tokenbatch/tokenbatch/tpmtoken/tpmtest"
)

func open(t testing.TB, sw *tpmtest.SWTPM) *tpmtoken.TPM {
	t.Helper()
	p, err := tpmtoken.Open(sw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestRFC6238Vectors(t *testing.T) {
	sw := tpmtest.Start(t)
	p := open(t, sw)
	k, err := p.Import([]byte("12345678901234567890"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 6238 appendix B, SHA1 column.
	for _, v := range []struct {
		unix int64
		code string
	}{{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"}, {1234567890, "89005924"},
		{2000000000, "69279037"}, {20000000000, "65353130"}} {
		codes, err := p.Codes(k, nil, 8, tpmtoken.Step(time.Unix(v.unix, 0)))
		if err != nil {
			t.Fatal(err)
		}
		if codes[0] != v.code {
			t.Errorf("T=%d: tpm code %s, want %s", v.unix, codes[0], v.code)
		}
	}
}

func TestMatchesOTP(t *testing.T) {
	sw := tpmtest.Start(t)
	p := open(t, sw)
	// 40 bytes as IAM gives, 64 bytes (SHA-1's block), and 80 bytes (hashed first).
	for _, n := range []int{40, 20, 64, 80} {
		seed := make([]byte, n)
		rand.Read(seed)
		b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)
		k, err := p.Import(seed, nil)
		if err != nil {
			t.Fatalf("%d-byte seed: %v", n, err)
		}
		base := time.Now()
		for i := range 5 {
			at := base.Add(time.Duration(i*37) * time.Second)
			step := tpmtoken.Step(at)
			codes, err := p.Codes(k, nil, 6, step-1, step)
			if err != nil {
				t.Fatal(err)
			}
			for j, at := range []time.Time{at.Add(-30 * time.Second), at} {
				want, err := totp.GenerateCodeCustom(b32, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
				if err != nil {
					t.Fatal(err)
				}
				if codes[j] != want {
					t.Errorf("%d-byte seed at %v: tpm %s, otp %s", n, at, codes[j], want)
				}
			}
		}
	}
}

func transientHandles(t *testing.T, addr string) int {
	t.Helper()
	tr, err := tpmtoken.OpenTransport(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	return countHandles(t, tr, tpm2.TPMHT(0x80)) + countHandles(t, tr, tpm2.TPMHT(0x02)) + countHandles(t, tr, tpm2.TPMHT(0x03))
}

func countHandles(t *testing.T, tr transport.TPM, ht tpm2.TPMHT) int {
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(ht) << 24, PropertyCount: 64}.Execute(tr)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := rsp.CapabilityData.Data.Handles()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, h := range hs.Handle {
		if uint32(h)>>24 == uint32(ht) {
			n++
		}
	}
	return n
}

func TestHandlesFlushed(t *testing.T) {
	sw := tpmtest.Start(t)
	p, err := tpmtoken.Open(sw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 40)
	rand.Read(seed)
	k, err := p.Import(seed, []byte("pin"))
	if err != nil {
		t.Fatal(err)
	}
	// swtpm has 3 object slots: a leak would fail within a few rounds.
	// One failure only: wrong authValues count towards the TPM's lockout.
	if _, err := p.Codes(k, []byte("wrong"), 6, 1); !errors.Is(err, tpmtoken.ErrAuth) {
		t.Fatalf("wrong authValue: %v, want ErrAuth", err)
	}
	for range 10 {
		if _, err := p.Codes(k, []byte("pin"), 6, 1, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// swtpm serves one connection at a time, so count after closing ours.
	if n := transientHandles(t, sw.Addr); n != 0 {
		t.Errorf("%d transient objects or sessions left in the tpm", n)
	}
}

func TestKeyAuth(t *testing.T) {
	sw := tpmtest.Start(t)
	p := open(t, sw)
	seed := make([]byte, 40)
	rand.Read(seed)
	k, err := p.Import(seed, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	good, err := p.Codes(k, []byte("correct horse"), 6, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range [][]byte{nil, []byte("wrong")} {
		if _, err := p.Codes(k, auth, 6, 100); !errors.Is(err, tpmtoken.ErrAuth) {
			t.Errorf("auth %q: %v, want ErrAuth", auth, err)
		}
	}
	if again, err := p.Codes(k, []byte("correct horse"), 6, 100); err != nil || again[0] != good[0] {
		t.Errorf("after failures: %v, %v", again, err)
	}
	if _, err := p.Import(seed, bytes.Repeat([]byte("x"), 33)); !errors.Is(err, tpmtoken.ErrAuth) {
		t.Errorf("a 33-byte authValue: %v, want ErrAuth", err)
	}
}

// TestRestartAndSecrets provisions through Enroll, restarts swtpm on the same state,
// and computes the same codes through a Source; then checks that no form of the seed
// is in the store.
func TestRestartAndSecrets(t *testing.T) {
	sw := tpmtest.Start(t)
	storeDir := filepath.Join(t.TempDir(), "store")
	st, err := tpmtoken.OpenStore(storeDir, true)
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 40)
	rand.Read(seed)
	b32 := base32.StdEncoding.EncodeToString(seed)
	serials := []string{"arn:aws:iam::123456789012:mfa/alice", "arn:aws:iam::123456789012:mfa/bob"}
	p := open(t, sw)
	for i, s := range serials {
		var auth []byte
		if i == 1 {
			auth = []byte("bobs pin")
		}
		if _, err := tpmtoken.Enroll(p, st, tpmtoken.Entry{SerialNumber: s, UserName: strings.TrimPrefix(s, "arn:aws:iam::123456789012:mfa/"), Source: "test"}, seed, auth); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tpmtoken.Enroll(p, st, tpmtoken.Entry{SerialNumber: serials[0], UserName: "alice"}, seed, nil); !errors.Is(err, tpmtoken.ErrExists) {
		t.Errorf("enrolling twice: %v, want ErrExists", err)
	}
	p.Close()
	sw.Restart(t)

	devs, err := tpmtoken.Devices(storeDir)
	if err != nil || len(devs) != 2 {
		t.Fatalf("Devices = %v, %v", devs, err)
	}
	asked := 0
	src := tpmtoken.NewSource(st, sw.Addr, func(e tpmtoken.Entry) ([]byte, error) {
		asked++
		return []byte("bobs pin"), nil
	})
	defer src.Close()
	now := time.Now()
	for _, d := range append(devs, devs...) {
		c1, c2, err := src.Codes(context.Background(), d, now)
		if err != nil {
			t.Fatal(err)
		}
		w1, _ := totp.GenerateCode(b32, now.Add(-30*time.Second))
		w2, _ := totp.GenerateCode(b32, now)
		if c1 != w1 || c2 != w2 {
			t.Errorf("%s: codes %s %s, want %s %s", d.SerialNumber, c1, c2, w1, w2)
		}
	}
	if asked != 1 {
		t.Errorf("the authValue was asked for %d times, want once", asked)
	}

	// A restart in the middle of a run: the Source reconnects on the next device.
	sw.Restart(t)
	if _, _, err := src.Codes(context.Background(), devs[0], now); err == nil {
		t.Log("the first call after a restart succeeded")
	}
	if _, _, err := src.Codes(context.Background(), devs[0], now); err != nil {
		t.Errorf("after swtpm restarted: %v", err)
	}

	forms := tpmtest.SecretForms(seed)
	filepath.Walk(storeDir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o", path, fi.Mode().Perm())
		}
		data, _ := os.ReadFile(path)
		for name, f := range forms {
			if bytes.Contains(bytes.ToLower(data), bytes.ToLower(f)) {
				t.Errorf("%s holds the seed as %s", path, name)
			}
		}
		return nil
	})
}

func TestOtherTPM(t *testing.T) {
	a, b := tpmtest.Start(t), tpmtest.Start(t)
	st, err := tpmtoken.OpenStore(filepath.Join(t.TempDir(), "s"), true)
	if err != nil {
		t.Fatal(err)
	}
	pa := open(t, a)
	seed := make([]byte, 40)
	if _, err := tpmtoken.Enroll(pa, st, tpmtoken.Entry{SerialNumber: "arn:aws:iam::123456789012:mfa/x", UserName: "x"}, seed, nil); err != nil {
		t.Fatal(err)
	}
	e, _ := st.Get("arn:aws:iam::123456789012:mfa/x")
	pb := open(t, b)
	if _, _, err := pb.EntryCodes(e, nil, time.Now()); !errors.Is(err, tpmtoken.ErrOtherTPM) {
		t.Errorf("entry from another tpm: %v, want ErrOtherTPM", err)
	}
	// Without the recorded storage key name, the TPM itself refuses the blob.
	if _, err := pb.Codes(e.Key, nil, 6, 1); !errors.Is(err, tpmtoken.ErrOtherTPM) {
		t.Errorf("blob from another tpm: %v, want ErrOtherTPM", err)
	}
}

func TestSourceConcurrent(t *testing.T) {
	sw := tpmtest.Start(t)
	st, err := tpmtoken.OpenStore(filepath.Join(t.TempDir(), "s"), true)
	if err != nil {
		t.Fatal(err)
	}
	p := open(t, sw)
	seeds := map[string]string{}
	var devs []plan.Device
	for i := range 6 {
		seed := make([]byte, 40)
		rand.Read(seed)
		serial := fmt.Sprintf("arn:aws:iam::123456789012:mfa/u%d", i)
		seeds[serial] = base32.StdEncoding.EncodeToString(seed)
		if _, err := tpmtoken.Enroll(p, st, tpmtoken.Entry{SerialNumber: serial, UserName: fmt.Sprintf("u%d", i)}, seed, nil); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	devs, err = tpmtoken.Devices(st.Dir())
	if err != nil {
		t.Fatal(err)
	}
	src := tpmtoken.NewSource(st, sw.Addr, nil)
	defer src.Close()
	now := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		for _, d := range devs {
			wg.Go(func() {
				_, c2, err := src.Codes(context.Background(), d, now)
				want, _ := totp.GenerateCode(seeds[d.SerialNumber], now)
				if err != nil || c2 != want {
					t.Errorf("%s: %s, %v; want %s", d.SerialNumber, c2, err, want)
				}
			})
		}
	}
	wg.Wait()
	if _, _, err := src.Codes(context.Background(), plan.Device{SerialNumber: "arn:aws:iam::123456789012:mfa/none"}, now); !errors.Is(err, tpmtoken.ErrNotFound) {
		t.Errorf("unknown device: %v, want ErrNotFound", err)
	}
}

// BenchmarkCode measures one code as the executor gets it: load the key, start a
// salted session, TPM2_HMAC, flush. ns/op is the per-code cost.
func BenchmarkCode(b *testing.B) {
	sw := tpmtest.Start(b)
	p := open(b, sw)
	seed := make([]byte, 40)
	rand.Read(seed)
	k, err := p.Import(seed, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := p.Codes(k, nil, 6, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeviceCodes measures a device's two codes (T-1 and T) through a Source;
// ns/op is per device, per-code is reported separately.
func BenchmarkDeviceCodes(b *testing.B) {
	sw := tpmtest.Start(b)
	st, err := tpmtoken.OpenStore(filepath.Join(b.TempDir(), "s"), true)
	if err != nil {
		b.Fatal(err)
	}
	p := open(b, sw)
	seed := make([]byte, 40)
	rand.Read(seed)
	e, err := tpmtoken.Enroll(p, st, tpmtoken.Entry{SerialNumber: "arn:aws:iam::123456789012:mfa/b", UserName: "b"}, seed, nil)
	if err != nil {
		b.Fatal(err)
	}
	p.Close()
	src := tpmtoken.NewSource(st, sw.Addr, nil)
	defer src.Close()
	d := plan.Device{SerialNumber: e.SerialNumber, UserName: "b"}
	now := time.Now()
	if _, _, err := src.Codes(context.Background(), d, now); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := src.Codes(context.Background(), d, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/code")
}

// BenchmarkHMAC measures TPM2_HMAC alone: 64 steps per load and session, so ns/code
// is the marginal cost of one more code.
func BenchmarkHMAC(b *testing.B) {
	sw := tpmtest.Start(b)
	p := open(b, sw)
	seed := make([]byte, 40)
	rand.Read(seed)
	k, err := p.Import(seed, nil)
	if err != nil {
		b.Fatal(err)
	}
	steps := make([]uint64, 64)
	for i := range steps {
		steps[i] = uint64(i)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Codes(k, nil, 6, steps...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(len(steps)*b.N), "ns/code")
}

func lockoutCounter(t *testing.T, addr string) uint32 {
	t.Helper()
	tr, err := tpmtoken.OpenTransport(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapTPMProperties, Property: uint32(tpm2.TPMPTLockoutCounter), PropertyCount: 1}.Execute(tr)
	if err != nil {
		t.Fatal(err)
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil || len(props.TPMProperty) == 0 || props.TPMProperty[0].Property != tpm2.TPMPTLockoutCounter {
		t.Fatalf("lockout counter: %v, %v", props, err)
	}
	return props.TPMProperty[0].Value
}

// TestSourceWrongAuth checks that a wrong authValue is tried on the TPM once, not
// once per device: every try counts towards the TPM's lockout.
func TestSourceWrongAuth(t *testing.T) {
	sw := tpmtest.Start(t)
	st, err := tpmtoken.OpenStore(filepath.Join(t.TempDir(), "s"), true)
	if err != nil {
		t.Fatal(err)
	}
	p := open(t, sw)
	seed := make([]byte, 40)
	for _, u := range []string{"a", "b", "c"} {
		if _, err := tpmtoken.Enroll(p, st, tpmtoken.Entry{SerialNumber: "arn:aws:iam::123456789012:mfa/" + u, UserName: u}, seed, []byte("right")); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	devs, _ := tpmtoken.Devices(st.Dir())
	src := tpmtoken.NewSource(st, sw.Addr, func(tpmtoken.Entry) ([]byte, error) { return []byte("wrong"), nil })
	for _, d := range devs {
		if _, _, err := src.Codes(context.Background(), d, time.Now()); !errors.Is(err, tpmtoken.ErrAuth) {
			t.Errorf("%s: %v, want ErrAuth", d.SerialNumber, err)
		}
	}
	src.Close()
	if n := lockoutCounter(t, sw.Addr); n != 1 {
		t.Errorf("lockout counter %d after a wrong authValue for 3 devices, want 1", n)
	}
}
