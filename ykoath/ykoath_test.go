package ykoath_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/vyubikey"
	"github.com/tokenbatch/tokenbatch/ykoath"
)

var rfcSeed = []byte("12345678901234567890")

func newKey(t testing.TB, cfg vyubikey.Config) *vyubikey.Key {
	t.Helper()
	k, err := vyubikey.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// countingTransmitter records the instructions sent.
type countingTransmitter struct {
	t    ykoath.Transmitter
	inss []byte
}

func (c *countingTransmitter) Transmit(cmd []byte) ([]byte, error) {
	c.inss = append(c.inss, cmd[1])
	return c.t.Transmit(cmd)
}

func TestRFC6238SHA1Vectors(t *testing.T) {
	s, err := ykoath.Select(newKey(t, vyubikey.Config{Credentials: []vyubikey.Credential{{Name: "rfc", Secret: rfcSeed, Digits: 8}}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		unix int64
		code string
	}{{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"}, {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}} {
		c, err := s.Calculate("rfc", ykoath.TimeStep(time.Unix(v.unix, 0), 30))
		if err != nil || c.Value() != v.code {
			t.Errorf("T=%d: got %q, %v; want %s", v.unix, c.Value(), err, v.code)
		}
	}
}

func TestCalculateAllChainsAndCountsCommands(t *testing.T) {
	var creds []vyubikey.Credential
	for i := range 30 {
		creds = append(creds, vyubikey.Credential{Name: fmt.Sprintf("Amazon Web Services:device-%02d@123456789012", i), Secret: []byte(fmt.Sprintf("seed-%02d-0123456789", i))})
	}
	creds = append(creds, vyubikey.Credential{Name: "touchy", Secret: rfcSeed, Touch: true},
		vyubikey.Credential{Name: "counter", Secret: rfcSeed, Type: ykoath.HOTP})
	ct := &countingTransmitter{t: newKey(t, vyubikey.Config{Credentials: creds})}
	s, err := ykoath.Select(ct)
	if err != nil {
		t.Fatal(err)
	}
	ct.inss = nil
	res, err := s.CalculateAll(1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 32 {
		t.Fatalf("got %d results, want 32", len(res))
	}
	if ct.inss[0] != 0xA4 || len(ct.inss) < 3 {
		t.Fatalf("instructions %x: want CALCULATE ALL then several SEND REMAINING", ct.inss)
	}
	for _, ins := range ct.inss[1:] {
		if ins != 0xA5 {
			t.Fatalf("instructions %x: want only SEND REMAINING after CALCULATE ALL", ct.inss)
		}
	}
	for _, r := range res[:30] {
		if len(r.Code.Value()) != 6 || r.Touch || r.HOTP {
			t.Errorf("%s: bad result", r.Name)
		}
		one, err := s.Calculate(r.Name, 1000)
		if err != nil || one != r.Code {
			t.Errorf("%s: CALCULATE disagrees with CALCULATE ALL (%v)", r.Name, err)
		}
	}
	if !res[30].Touch || res[30].Code != "" || !res[31].HOTP || res[31].Code != "" {
		t.Errorf("touch/HOTP entries: %+v %+v", res[30], res[31])
	}
}

func TestPassword(t *testing.T) {
	k := newKey(t, vyubikey.Config{Password: "correct horse", Credentials: []vyubikey.Credential{{Name: "a", Secret: rfcSeed}}})
	s, err := ykoath.Select(k)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Locked() {
		t.Fatal("applet with a password is not locked")
	}
	if _, err := s.List(); !errors.Is(err, ykoath.ErrLocked) {
		t.Fatalf("list while locked: %v, want ErrLocked", err)
	}
	err = s.Validate([]byte("wrong horse"))
	if !errors.Is(err, ykoath.ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if strings.Contains(err.Error(), "horse") {
		t.Error("the error shows the password")
	}
	if err := s.Validate([]byte("correct horse")); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if l, err := s.List(); err != nil || len(l) != 1 {
		t.Fatalf("list after validate: %v %v", l, err)
	}
	// A power cycle locks it again.
	k.PowerCycle()
	s, _ = ykoath.Select(k)
	if _, err := s.CalculateAll(1); !errors.Is(err, ykoath.ErrLocked) {
		t.Fatalf("after a power cycle: %v, want ErrLocked", err)
	}
}

func TestPutListDelete(t *testing.T) {
	s, err := ykoath.Select(newKey(t, vyubikey.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ykoath.NewCredential{Name: "60/Example:user", Secret: rfcSeed, Algorithm: ykoath.SHA256, Digits: 8, RequireTouch: true}); err != nil {
		t.Fatal(err)
	}
	long := make([]byte, 100) // longer than SHA-1's block: hashed before storing
	copy(long, "long secret")
	if err := s.Put(ykoath.NewCredential{Name: "long", Secret: long}); err != nil {
		t.Fatal(err)
	}
	l, err := s.List()
	if err != nil || len(l) != 2 {
		t.Fatalf("list: %v %v", l, err)
	}
	if l[0].Name != "60/Example:user" || l[0].Type != ykoath.TOTP || l[0].Algorithm != ykoath.SHA256 {
		t.Errorf("list[0] = %+v", l[0])
	}
	res, _ := s.CalculateAll(5)
	if !res[0].Touch {
		t.Error("touch property lost")
	}
	if err := s.Delete("long"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("long"); !errors.Is(err, ykoath.ErrNoSuchObject) {
		t.Fatalf("second delete: %v, want ErrNoSuchObject", err)
	}
	if _, err := s.Calculate("nope", 1); !errors.Is(err, ykoath.ErrNoSuchObject) {
		t.Fatalf("calculate unknown: %v", err)
	}
	if err := s.Put(ykoath.NewCredential{Name: strings.Repeat("x", 65), Secret: rfcSeed}); err == nil {
		t.Error("put of a 65-byte name succeeded")
	}
}

func TestTouchTimeout(t *testing.T) {
	k := newKey(t, vyubikey.Config{TouchAfter: -1, TouchTimeout: 50 * time.Millisecond,
		Credentials: []vyubikey.Credential{{Name: "t", Secret: rfcSeed, Touch: true}}})
	s, _ := ykoath.Select(k)
	if _, err := s.Calculate("t", 1); !errors.Is(err, ykoath.ErrTouchTimeout) {
		t.Fatalf("untouched: %v, want ErrTouchTimeout", err)
	}
	k2 := newKey(t, vyubikey.Config{TouchAfter: 10 * time.Millisecond,
		Credentials: []vyubikey.Credential{{Name: "t", Secret: rfcSeed, Touch: true, Digits: 8}}})
	s2, _ := ykoath.Select(k2)
	if c, err := s2.Calculate("t", 1); err != nil || c.Value() != "94287082" {
		t.Fatalf("touched: %q %v", c.Value(), err)
	}
}

func TestCodeRedacted(t *testing.T) {
	c := ykoath.Code("123456")
	r := ykoath.Result{Name: "x", Code: c}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %s %q %#v", c, c, c, c), fmt.Sprintf("%v %+v %#v", r, r, r)} {
		if strings.Contains(s, "123456") {
			t.Errorf("code printed: %s", s)
		}
	}
}

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		id, issuer, account string
		period              int
	}{
		{"Amazon Web Services:alice@123456789012", "Amazon Web Services", "alice@123456789012", 30},
		{"alice@my-alias", "", "alice@my-alias", 30},
		{"60/Issuer:acct", "Issuer", "acct", 60},
		{"arn:aws:iam::123456789012:mfa/alice", "arn", "aws:iam::123456789012:mfa/alice", 30},
	} {
		p, i, a := ykoath.ParseName(tc.id)
		if p != tc.period || i != tc.issuer || a != tc.account {
			t.Errorf("ParseName(%q) = %d %q %q", tc.id, p, i, a)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	e := &ykoath.StatusError{Op: "put", SW: 0x6A84}
	if !errors.Is(e, ykoath.ErrNoSpace) || errors.Is(e, ykoath.ErrNoSuchObject) {
		t.Error("status word mapping")
	}
	if !strings.Contains(e.Error(), "6A84") || e.Error() != strings.ToLower(e.Error()[:1])+e.Error()[1:] {
		t.Errorf("message %q", e.Error())
	}
	// SELECT of an applet the card lacks.
	_, err := ykoath.Select(fakeCard{0x6A, 0x82})
	if !errors.Is(err, ykoath.ErrNotFound) {
		t.Errorf("select on a card without oath: %v", err)
	}
}

type fakeCard []byte

func (f fakeCard) Transmit([]byte) ([]byte, error) { return f, nil }
