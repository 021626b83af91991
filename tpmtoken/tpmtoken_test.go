package tpmtoken

import (
	"bytes"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
)

func TestTruncateRFC4226(t *testing.T) {
	// RFC 4226 appendix D: HMAC-SHA1 of counters 0.. with key "12345678901234567890".
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	key := []byte("12345678901234567890")
	for i, w := range want {
		var msg [8]byte
		binary.BigEndian.PutUint64(msg[:], uint64(i))
		got, err := truncate(hmacSHA1(key, msg[:]), 6)
		if err != nil || got != w {
			t.Errorf("counter %d: got %q, %v; want %s", i, got, err, w)
		}
	}
	if _, err := truncate(make([]byte, 32), 6); err == nil {
		t.Error("a 32-byte hmac was accepted")
	}
}

func TestSeedCode(t *testing.T) {
	// RFC 4226 appendix D, then RFC 6238 appendix B's SHA1 column at 8 digits.
	key := []byte("12345678901234567890")
	for i, w := range []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"} {
		if got, err := SeedCode(key, uint64(i), 6); err != nil || got != w {
			t.Errorf("counter %d: got %q, %v; want %s", i, got, err, w)
		}
	}
	for unix, w := range map[int64]string{59: "94287082", 1111111109: "07081804", 1234567890: "89005924", 20000000000: "65353130"} {
		if got, err := SeedCode(key, Step(time.Unix(unix, 0)), 8); err != nil || got != w {
			t.Errorf("T=%d: got %q, %v; want %s", unix, got, err, w)
		}
	}
}

func TestParseSeed(t *testing.T) {
	raw := []byte("0123456789abcdefghij0123456789ABCDEFGHIJ") // 40 bytes, like IAM's
	b32 := base32.StdEncoding.EncodeToString(raw)
	if len(b32) != 64 {
		t.Fatalf("base32 of 40 bytes is %d chars", len(b32))
	}
	for _, in := range []string{b32, b32 + "\n", " " + string(bytes.ToLower([]byte(b32)))} {
		orig := []byte(in)
		text := append([]byte(nil), orig...)
		got, err := ParseSeed(text)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("ParseSeed(%d chars) = %x, %v", len(in), got, err)
		}
		if !bytes.Equal(text, orig) {
			t.Error("ParseSeed modified its input")
		}
	}
	// Padded base32 as other tools print it.
	padded := base32.StdEncoding.EncodeToString(raw[:20])
	if got, err := ParseSeed([]byte(padded)); err != nil || !bytes.Equal(got, raw[:20]) {
		t.Errorf("padded: %x, %v", got, err)
	}
	for _, bad := range []string{"", "  \n", "NOT*BASE32!", "AAAAAAAAA1"} {
		_, err := ParseSeed([]byte(bad))
		if !errors.Is(err, ErrSeed) {
			t.Errorf("ParseSeed(%q) = %v, want ErrSeed", bad, err)
		}
		if err != nil && bad != "" && bytes.Contains([]byte(err.Error()), []byte(bad)) {
			t.Errorf("the error quotes the input: %v", err)
		}
	}
}

func TestParseAddress(t *testing.T) {
	for _, c := range []struct{ in, network, target string }{
		{"", "device", "/dev/tpmrm0"},
		{"/dev/tpm0", "device", "/dev/tpm0"},
		{"tcp://127.0.0.1:2321", "tcp", "127.0.0.1:2321"},
		{"unix:/run/swtpm.sock", "unix", "/run/swtpm.sock"},
		{"unix:///run/swtpm.sock", "unix", "/run/swtpm.sock"},
	} {
		n, tg, err := parseAddress(c.in)
		if err != nil || n != c.network || tg != c.target {
			t.Errorf("parseAddress(%q) = %q, %q, %v", c.in, n, tg, err)
		}
	}
	for _, bad := range []string{"tcp://nohost", "unix:", "localhost:2321", "mssim://x"} {
		if _, _, err := parseAddress(bad); !errors.Is(err, ErrAddress) {
			t.Errorf("parseAddress(%q) = %v, want ErrAddress", bad, err)
		}
	}
	if _, err := OpenTransport("unix:" + filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrOpen) {
		t.Errorf("opening a missing socket: %v, want ErrOpen", err)
	}
}

// rcTPM answers every command with a response code.
type rcTPM struct{ rc tpm2.TPMRC }

func (f rcTPM) Send([]byte) ([]byte, error) {
	rsp := []byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(rsp[6:], uint32(f.rc))
	return rsp, nil
}
func (rcTPM) Close() error { return nil }

func TestNoHMACSHA1(t *testing.T) {
	// A TPM whose profile disables SHA-1 rejects the parameters (TPM_RC_HASH or
	// TPM_RC_SCHEME, as a parameter error of TestParms).
	for _, rc := range []tpm2.TPMRC{tpm2.TPMRCHash + 0x1c0, tpm2.TPMRCScheme + 0x1c0, tpm2.TPMRCValue} {
		_, err := newTPM(rcTPM{rc})
		if !errors.Is(err, ErrNoHMACSHA1) {
			t.Errorf("rc %#x: %v, want ErrNoHMACSHA1", uint32(rc), err)
		}
	}
}

func TestStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "store")
	if _, err := OpenStore(dir, false); !errors.Is(err, ErrStore) {
		t.Fatalf("opening a missing store without create: %v", err)
	}
	s, err := OpenStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("store mode %o, want 700", fi.Mode().Perm())
	}
	a := Entry{SerialNumber: "arn:aws:iam::123456789012:mfa/alice", UserName: "alice", AccountID: "123456789012",
		Key: Key{Public: []byte{1, 2}, Private: []byte{3, 4}}, Created: time.Unix(1700000000, 0).UTC()}
	b := Entry{SerialNumber: "arn:aws:iam::123456789012:mfa/path/bob", UserName: "bob", AccountID: "123456789012"}
	for _, e := range []Entry{b, a} {
		if err := s.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(a); !errors.Is(err, ErrExists) {
		t.Errorf("putting alice twice: %v, want ErrExists", err)
	}
	got, err := s.Get(a.SerialNumber)
	if err != nil || got.UserName != "alice" || !bytes.Equal(got.Key.Private, []byte{3, 4}) || !got.Created.Equal(a.Created) {
		t.Errorf("Get = %+v, %v", got, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].UserName != "alice" || list[1].UserName != "bob" {
		t.Errorf("List = %+v, %v", list, err)
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 2 {
		t.Errorf("store holds %d files, want 2 (no temporary files left)", len(des))
	}
	for _, de := range des {
		fi, _ := de.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 600", de.Name(), fi.Mode().Perm())
		}
	}
	if err := s.Delete(a.SerialNumber); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(a.SerialNumber); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	devs, err := Devices(dir)
	if err != nil || len(devs) != 1 || devs[0].UserName != "bob" || devs[0].AccountID != "123456789012" ||
		devs[0].Token == nil || devs[0].Token.Kind != "tpm" || devs[0].Token.Serial != "tpm" || devs[0].Token.Credential != b.SerialNumber {
		t.Errorf("Devices = %+v, %v", devs, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(dir, false); !errors.Is(err, ErrStore) {
		t.Errorf("a store readable by others was accepted: %v", err)
	}
}

func TestSerialParts(t *testing.T) {
	s := "arn:aws:iam::123456789012:mfa/team/alice-phone"
	if got := AccountFromSerial(s); got != "123456789012" {
		t.Errorf("AccountFromSerial = %q", got)
	}
	if got := DeviceNameFromSerial(s); got != "alice-phone" {
		t.Errorf("DeviceNameFromSerial = %q", got)
	}
	if got := AccountFromSerial("GAHT12345678"); got != "" {
		t.Errorf("AccountFromSerial of a hardware serial = %q", got)
	}
}
