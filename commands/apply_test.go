package commands

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/executor"
	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
	"github.com/tokenbatch/tokenbatch/report"
)

func mainOut(args ...string) (code int, stdout, stderr string) {
	var out, errOut testenv.SyncBuffer
	code = Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// badCodes replaces the codes of every fifth row with codes IAM rejects (valid shape,
// wrong values) and returns the manifest and every code in it.
func badCodes(t *testing.T, manifest []byte) (string, []string) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(manifest)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for i, r := range recs[1:] {
		if i%5 == 0 {
			r[2], r[3] = "13579"+string(rune('0'+i%10)), "24680"+string(rune('0'+i%10))
		}
		codes = append(codes, r[2], r[3])
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.WriteAll(recs)
	path := filepath.Join(t.TempDir(), "manifest.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, codes
}

// assertNoCodes fails if any code appears, as a whole word, in text.
func assertNoCodes(t *testing.T, where, text string, codes []string) {
	t.Helper()
	for _, c := range codes {
		re := regexp.MustCompile(`(^|[^0-9A-Za-z])` + c + `($|[^0-9A-Za-z])`)
		if loc := re.FindStringIndex(text); loc != nil {
			t.Errorf("%s holds code %s: ...%s...", where, c, text[max(0, loc[0]-80):min(len(text), loc[1]+40)])
		}
	}
}

// TestBatchNeverLeaksCodes runs plan, apply and run with --debug on a manifest whose
// rows IAM partly rejects, and greps stdout, stderr (logs and debug output), the
// reports and the journal for every code of the manifest.
func TestBatchNeverLeaksCodes(t *testing.T) {
	testenv.AWSEnv(t, iamsim.ExampleAccessKeyID, iamsim.ExampleSecretAccessKey)
	sim := simtest.Start(t, simtest.Options{Fleet: iamsim.GenerateFleet(40, 5), FaultDrop: 0.05, FaultServiceFailure: 0.05})
	manifest, codes := badCodes(t, sim.Manifest(t, time.Time{}))
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.json")

	var all strings.Builder
	code, out, errOut := mainOut("plan", "--manifest", manifest, "--endpoint-url", sim.URL, "--debug", "--out", planFile)
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	all.WriteString(out + errOut)
	applyDir := filepath.Join(dir, "apply")
	code, out, errOut = mainOut("apply", planFile, "--endpoint-url", sim.URL, "--debug", "--report-dir", applyDir,
		"--rate", "1000", "--log-format", "json")
	all.WriteString(out + errOut)
	if code != ExitIncomplete {
		t.Fatalf("apply: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	// --debug logs each request and response of the SDK, its codes and signature redacted.
	for _, want := range []string{"Action=ResyncMFADevice", "AuthenticationCode1=<redacted>&AuthenticationCode2=<redacted>",
		"Signature=<redacted>", "<ResyncMFADeviceResponse", "<Code>InvalidAuthenticationCode</Code>"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("--debug output lacks %q", want)
		}
	}
	rows := readReport(t, applyDir)
	failed := 0
	for _, o := range rows {
		// in_doubt when a dropped or failed attempt came first
		if (o.Status == report.Failed || o.Status == report.InDoubt) && o.ErrorCode == "InvalidAuthenticationCode" {
			failed++
		}
	}
	if failed != 8 || len(rows) != 40 {
		t.Errorf("%d rows, %d failed with InvalidAuthenticationCode, want 40 and 8", len(rows), failed)
	}
	// run on a fresh manifest of the same fleet (the first one's codes are used).
	manifest2, codes2 := badCodes(t, sim.Manifest(t, sim.Now().Add(90*time.Second)))
	codes = append(codes, codes2...)
	sim.Server.Clock().Advance(90 * time.Second)
	runDir := filepath.Join(dir, "run")
	code, out, errOut = mainOut("run", "--manifest", manifest2, "--endpoint-url", sim.URL, "--debug", "--report-dir", runDir, "--rate", "1000")
	all.WriteString(out + errOut)
	if code != ExitIncomplete {
		t.Fatalf("run: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, d := range []string{applyDir, runDir} {
		for _, name := range []string{report.CSVName, report.JSONLName, report.JUnitName, executor.JournalName} {
			path := filepath.Join(d, name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
			}
			assertNoCodes(t, path, string(data), codes)
		}
	}
	assertNoCodes(t, "stdout and stderr", all.String(), codes)
}

func TestApplyRefusesBadInput(t *testing.T) {
	testenv.AWSEnv(t, iamsim.ExampleAccessKeyID, iamsim.ExampleSecretAccessKey)
	sim := simtest.Start(t, simtest.Options{Fleet: iamsim.GenerateFleet(3, 5)})
	dir := t.TempDir()
	manifest := filepath.Join(dir, "m.csv")
	os.WriteFile(manifest, sim.Manifest(t, time.Time{}), 0o600)
	planFile := filepath.Join(dir, "plan.json")
	if code, _, errOut := mainOut("plan", "--manifest", manifest, "--endpoint-url", sim.URL, "--out", planFile); code != 0 {
		t.Fatal(errOut)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no plan file", []string{"apply", filepath.Join(dir, "nope.json")}, ExitUsage, "cannot read the plan"},
		{"bad rate", []string{"apply", planFile, "--rate", "0"}, ExitUsage, "--rate"},
		{"bad log format", []string{"apply", planFile, "--log-format", "xml"}, ExitUsage, "--log-format"},
		{"resume and report dir differ", []string{"apply", planFile, "--resume", "a", "--report-dir", "b"}, ExitUsage, "differ"},
		{"resume without journal", []string{"apply", planFile, "--endpoint-url", sim.URL, "--resume", t.TempDir()}, ExitUsage, "no journal"},
		{"run without manifest", []string{"run"}, ExitUsage, "--manifest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := mainOut(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.msg) {
				t.Errorf("exit %d (%q), want %d with %q", code, errOut, tt.code, tt.msg)
			}
		})
	}
	// A report directory that holds a journal is not reused without --resume.
	rd := filepath.Join(dir, "r")
	if code, out, errOut := mainOut("apply", planFile, "--endpoint-url", sim.URL, "--report-dir", rd); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut := mainOut("apply", planFile, "--endpoint-url", sim.URL, "--report-dir", rd)
	if code != ExitUsage || !strings.Contains(errOut, "--resume") {
		t.Errorf("reused report dir: exit %d %s", code, errOut)
	}
	// Resuming a finished run sends nothing again and exits 0.
	code, out, errOut := mainOut("apply", planFile, "--endpoint-url", sim.URL, "--resume", rd)
	if code != 0 || !strings.Contains(out, "skipped        3") {
		t.Errorf("resume of a finished run: exit %d\n%s%s", code, out, errOut)
	}
	// Credentials of another key the simulator does not know: 253, nothing sent.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
	code, _, errOut = mainOut("apply", planFile, "--endpoint-url", sim.URL, "--report-dir", filepath.Join(dir, "x"))
	if code != ExitConfig {
		t.Errorf("unknown key: exit %d %s", code, errOut)
	}
}
