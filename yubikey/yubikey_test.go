package yubikey_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"

	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/vpcdtest"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/vyubikey"
	"github.com/tokenbatch/tokenbatch/yubikey"
)

const password = "correct horse battery"

// syncBuffer collects prompts written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	sim    *simtest.Sim
	iam    *iam.Client
	a, b   *vyubikey.Key
	roots  *x509.CertPool
	prompt *syncBuffer
}

func credsFor(t *testing.T, f *iamsim.Fleet, sel vyubikey.FleetSelection) []vyubikey.Credential {
	t.Helper()
	c, err := vyubikey.FleetCredentials(f, sel)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setup starts the simulator and two virtual keys holding the sample fleet's assigned
// virtual devices:
//
//	key A (password): 10 devices named with the account id, a touch credential that is
//	  never touched, a GitHub credential and one of another account;
//	key B: 8 devices named with the alias, one named by its ARN, one mapped by a
//	  mapping file, a touch credential touched after 50 ms, and an unassigned device.
func setup(t *testing.T) *fixture {
	ports := vpcdtest.BothSlots(t)
	sim := simtest.Start(t, simtest.Options{})
	f := sim.Fleet
	ca, err := vyubikey.NewCA("test attestation root")
	if err != nil {
		t.Fatal(err)
	}
	credsA := credsFor(t, f, vyubikey.FleetSelection{Limit: 11})
	credsA[10].Touch = true
	credsA = append(credsA,
		vyubikey.Credential{Name: "GitHub:alice", Secret: []byte("0123456789abcdef0123")},
		vyubikey.Credential{Name: "Amazon Web Services:alice@999999999999", Secret: []byte("0123456789abcdef0123")})
	credsB := credsFor(t, f, vyubikey.FleetSelection{Skip: 11, Limit: 11, UseAlias: true})
	// credsB[8]: by ARN; credsB[9]: by mapping file; credsB[10]: touch.
	arnDev := deviceOf(t, f, credsB[8].Name)
	credsB[8].Name = arnDev.SerialNumber
	credsB[9].Name = "my label for " + deviceOf(t, f, credsB[9].Name).UserName
	credsB[10].Touch = true
	spare := credsFor(t, f, vyubikey.FleetSelection{Devices: []string{"arn:aws:iam::123456789012:mfa/spare-1"}})
	credsB = append(credsB, spare...)

	fx := &fixture{sim: sim, iam: iam.NewFromConfig(sim.Config(t)), prompt: &syncBuffer{}}
	fx.a = vpcdtest.StartKeyOn(t, ports[0], vyubikey.Config{Serial: 11111111, Password: password, Credentials: credsA,
		CA: ca, TouchAfter: -1, TouchTimeout: 1500 * time.Millisecond})
	fx.b = vpcdtest.StartKeyOn(t, ports[1], vyubikey.Config{Serial: 22222222, Credentials: credsB, CA: ca,
		TouchAfter: 50 * time.Millisecond})
	fx.roots = x509.NewCertPool()
	fx.roots.AddCert(ca.Cert)
	return fx
}

// deviceOf finds the fleet device a QR-style credential name points to.
func deviceOf(t *testing.T, f *iamsim.Fleet, cred string) iamsim.Device {
	t.Helper()
	name := cred[strings.Index(cred, ":")+1 : strings.LastIndex(cred, "@")]
	for _, d := range f.Devices {
		if strings.HasSuffix(d.SerialNumber, "/"+name) {
			return d
		}
	}
	t.Fatalf("no device for %s", cred)
	return iamsim.Device{}
}

func (fx *fixture) opts() yubikey.Options {
	return yubikey.Options{
		AllowVirtualReaders: true,
		AttestationRoots:    fx.roots,
		Password:            yubikey.StaticPassword(password),
		TouchTimeout:        300 * time.Millisecond,
		Prompt:              fx.prompt,
		AccountID:           fx.sim.Fleet.AccountID,
	}
}

var digits = regexp.MustCompile(`\b\d{6}\b`)

func TestDiscoverAndResync(t *testing.T) {
	fx := setup(t)
	ctx := t.Context()
	opts := fx.opts()
	userB9 := strings.TrimPrefix(credsNameOn(t, fx, 9), "my label for ")
	var devB9 iamsim.Device
	for _, d := range fx.sim.Fleet.Devices {
		if d.UserName == userB9 {
			devB9 = d
		}
	}
	opts.Mapping = []yubikey.Mapping{{TokenSerial: "22222222", Credential: "my label for " + userB9,
		UserName: userB9, SerialNumber: devB9.SerialNumber}}

	devices, src, problems, err := yubikey.Discover(ctx, opts, fx.iam)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// 10 + 1 touch on A; 8 + ARN + mapped + 1 touch on B.
	if len(devices) != 22 {
		t.Fatalf("got %d devices, want 22: %v", len(devices), problems)
	}
	for _, d := range devices[:20] {
		if src.NeedsTouch(d) {
			t.Errorf("touch device %s is not last", d.SerialNumber)
		}
	}
	for _, d := range devices[20:] {
		if !src.NeedsTouch(d) {
			t.Errorf("device %s should need a touch", d.SerialNumber)
		}
	}
	for _, d := range devices {
		if d.Token == nil || d.Token.Kind != "yubikey" || d.Token.Attestation != "genuine YubiKey 5, present" || d.AccountID != "123456789012" {
			t.Fatalf("device %+v token %+v", d, d.Token)
		}
	}
	wantProblems := map[string]int{yubikey.ProblemUnmapped: 1, yubikey.ProblemOther: 1, yubikey.ProblemUnassigned: 1}
	got := map[string]int{}
	for _, p := range problems {
		got[p.Code]++
		if p.Severity != plan.Warning {
			t.Errorf("problem %v: severity %v", p, p.Severity)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(wantProblems) {
		t.Errorf("problems %v, want %v: %v", got, wantProblems, problems)
	}

	// Resync every device with the Source's codes, as the executor would; the
	// untouched key's touch device fails alone.
	statsA, statsB := fx.a.Stats(), fx.b.Stats()
	now := fx.sim.Now()
	var failed []string
	for _, d := range devices {
		c1, c2, err := src.Codes(ctx, d, now)
		if err != nil {
			if strings.ContainsAny(err.Error(), "0123456789") && digits.MatchString(err.Error()) {
				t.Errorf("error may hold a code: %v", err)
			}
			failed = append(failed, d.Token.Serial+" "+d.Token.Credential)
			if !errors.Is(err, yubikey.ErrTouchTimeout) {
				t.Errorf("%s: %v", d.SerialNumber, err)
			}
			continue
		}
		_, err = fx.iam.ResyncMFADevice(ctx, &iam.ResyncMFADeviceInput{UserName: aws.String(d.UserName),
			SerialNumber: aws.String(d.SerialNumber), AuthenticationCode1: aws.String(c1), AuthenticationCode2: aws.String(c2)})
		if err != nil {
			t.Errorf("resync %s: %v", d.SerialNumber, err)
		}
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "11111111 ") {
		t.Errorf("failed devices %v, want only key A's touch credential", failed)
	}
	// One read per key and step: two CALCULATE ALL (if the step did not turn meanwhile).
	if n := fx.a.Stats().CalculateAll - statsA.CalculateAll; n != 2 && n != 4 {
		t.Errorf("key A: %d CALCULATE ALL for 10 devices, want 2", n)
	}
	if n := fx.b.Stats().CalculateAll - statsB.CalculateAll; n != 2 && n != 4 {
		t.Errorf("key B: %d CALCULATE ALL, want 2", n)
	}
	p := fx.prompt.String()
	for _, want := range []string{"touch YubiKey 11111111", "touch YubiKey 22222222"} {
		if !strings.Contains(p, want) {
			t.Errorf("prompts %q lack %q", p, want)
		}
	}
	if digits.MatchString(p) {
		t.Errorf("prompt holds a code: %q", p)
	}
	ok := 0
	for _, e := range fx.sim.Ledger() {
		if e.Action == "ResyncMFADevice" && e.Outcome == "ok" {
			ok++
		}
	}
	if ok != 21 {
		t.Errorf("simulator recorded %d successful resyncs, want 21", ok)
	}
}

func credsNameOn(t *testing.T, fx *fixture, i int) string {
	keys, _, err := yubikey.ListKeys(t.Context(), yubikey.Options{AllowVirtualReaders: true, Devices: []string{"22222222"}})
	if err != nil {
		t.Fatal(err)
	}
	return keys[0].Credentials[i].Name
}

func TestListKeys(t *testing.T) {
	fx := setup(t)
	ctx := t.Context()

	if _, _, err := yubikey.ListKeys(ctx, yubikey.Options{}); !errors.Is(err, yubikey.ErrNoKeys) {
		t.Errorf("virtual readers not ignored by default: %v", err)
	}

	keys, problems, err := yubikey.ListKeys(ctx, fx.opts())
	if err != nil || len(problems) != 0 || len(keys) != 2 {
		t.Fatalf("keys %v problems %v err %v", keys, problems, err)
	}
	a := keys[0]
	if a.Serial != 11111111 || a.Firmware != "5.4.3" || !a.Locked || len(a.Credentials) != 13 || a.Attestation != "genuine YubiKey 5, present" {
		t.Errorf("key A = %+v", a.Identity)
	}

	// Yubico's roots do not trust the test CA.
	o := fx.opts()
	o.AttestationRoots = nil
	o.Devices = []string{"22222222"}
	keys, _, err = yubikey.ListKeys(ctx, o)
	if err != nil || len(keys) != 1 || keys[0].Attestation != yubikey.Unattested || keys[0].AttestationDetail == "" {
		t.Fatalf("with Yubico's roots: %+v %v", keys, err)
	}

	// Wrong password: key A is a problem, key B goes on; the password is not shown.
	o = fx.opts()
	o.Password = yubikey.StaticPassword("wrong horse")
	keys, problems, err = yubikey.ListKeys(ctx, o)
	if err != nil || len(keys) != 1 || keys[0].Serial != 22222222 || len(problems) != 1 {
		t.Fatalf("wrong password: keys %v problems %v err %v", keys, problems, err)
	}
	msg := problems[0].Error()
	if !strings.Contains(msg, "11111111") || !strings.Contains(msg, "wrong oath password") || strings.Contains(msg, "horse") {
		t.Errorf("wrong password problem: %q", msg)
	}
	// No password at all.
	o.Password = nil
	_, problems, _ = yubikey.ListKeys(ctx, o)
	if len(problems) != 1 || !errors.Is(problems[0], yubikey.ErrPasswordNeeded) {
		t.Errorf("no password: %v", problems)
	}

	// --device of a key that is not attached.
	o = fx.opts()
	o.Devices = []string{"22222222", "999"}
	keys, problems, err = yubikey.ListKeys(ctx, o)
	if err != nil || len(keys) != 1 || len(problems) != 1 || !errors.Is(problems[0], yubikey.ErrKeyNotFound) {
		t.Errorf("--device 999: keys %v problems %v err %v", keys, problems, err)
	}
}
