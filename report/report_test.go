package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestEscapeCell(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"alice":             "alice",
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")",
		"+1":                "'+1",
		"-1+2":              "'-1+2",
		"@SUM(A1)":          "'@SUM(A1)",
		"\tx":               "'\tx",
		"\rx":               "'\rx",
		"a=b":               "a=b",
	} {
		if got := EscapeCell(in); got != want {
			t.Errorf("EscapeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScrub(t *testing.T) {
	tests := []struct {
		msg   string
		codes []string
		want  string
	}{
		{"Value '12345' at 'authenticationCode1' failed", []string{"12345", "678901"}, "Value '[redacted]' at 'authenticationCode1' failed"},
		{"codes 123456,654321 rejected", nil, "codes [redacted],[redacted] rejected"},
		{"account 123456789012 and serial GAHT12345678", nil, "account 123456789012 and serial GAHT12345678"},
		{"request 0f6c1e2a-1234-4c5d", nil, "request 0f6c1e2a-1234-4c5d"},
		{"123456", nil, "[redacted]"},
		{"pair 111111222222", []string{"111111", "222222"}, "pair [redacted][redacted]"},
		{"codes inside text: tok402817-x739164y", []string{"402817", "739164"}, "codes inside text: tok[redacted]-x[redacted]y"},
		// An account id holding a code is another number: the ARN stays whole.
		{"MFA Device with serial number arn:aws:iam::123456789012:mfa/bob does not exist.", []string{"123456", "234567"},
			"MFA Device with serial number arn:aws:iam::123456789012:mfa/bob does not exist."},
	}
	for _, tt := range tests {
		if got := Scrub(tt.msg, tt.codes...); got != tt.want {
			t.Errorf("Scrub(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

func sampleRows() []Outcome {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return []Outcome{
		{UserName: "alice", SerialNumber: "arn:aws:iam::123456789012:mfa/alice", AccountID: "123456789012", Status: Succeeded,
			RequestID: "req-1", Attempts: 1, StartedAt: t0, FinishedAt: t0.Add(120 * time.Millisecond), DurationMS: 120, Line: 2, Ticket: "CHG-1"},
		{UserName: "=cmd|' /C calc'!A0", SerialNumber: "GAHT12345678", AccountID: "123456789012", Status: Failed,
			ErrorCode: "InvalidAuthenticationCode", ErrorMessage: "-Authentication code for the MFA device is not valid.",
			RequestID: "req-2", Attempts: 1, StartedAt: t0, FinishedAt: t0.Add(80 * time.Millisecond), DurationMS: 80, Line: 3},
		{UserName: "bob", SerialNumber: "arn:aws:iam::123456789012:mfa/bob", AccountID: "123456789012", Status: InDoubt,
			ErrorCode: "InvalidAuthenticationCode", ErrorMessage: "an earlier attempt got no answer", Attempts: 2, Line: 4},
		{UserName: "carol", SerialNumber: "arn:aws:iam::123456789012:mfa/carol", AccountID: "123456789012", Status: NotAttempted,
			ErrorCode: "Interrupted", ErrorMessage: "not sent: the run was interrupted", Line: 5},
		{UserName: "dave", SerialNumber: "arn:aws:iam::123456789012:mfa/dave", AccountID: "123456789012", Status: Skipped,
			ErrorCode: "InvalidRow", ErrorMessage: "invalid in the plan", Line: 6, TokenSerial: "1234", Attestation: "unattested"},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n%s", name, got)
	}
}

func TestFormatsGolden(t *testing.T) {
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"report.csv", func(b *bytes.Buffer) error { return WriteCSV(b, sampleRows()) }},
		{"report.jsonl", func(b *bytes.Buffer) error { return WriteJSONL(b, sampleRows()) }},
		{"report.junit.xml", func(b *bytes.Buffer) error { return WriteJUnit(b, sampleRows()) }},
		{"summary.txt", func(b *bytes.Buffer) error {
			return Summarize(sampleRows(), 2*time.Second, 7, 2).Print(b)
		}},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			t.Fatal(err)
		}
		golden(t, f.name, b.Bytes())
	}
}

func TestWriteModesAndRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, sampleRows()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{CSVName, JSONLName, JUnitName} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, fi.Mode(), err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("temporary files left: %v", entries)
	}
	data, _ := os.ReadFile(filepath.Join(dir, JSONLName))
	var back []Outcome
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var o Outcome
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatal(err)
		}
		back = append(back, o)
	}
	if len(back) != 5 || back[0] != sampleRows()[0] {
		t.Errorf("round trip: %+v", back[0])
	}
}
