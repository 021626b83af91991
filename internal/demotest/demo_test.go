package demotest

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tokenbatch/tokenbatch/internal/testenv"
)

func TestDemo(t *testing.T) {
	testenv.Tool(t, testenv.AWSCLIv2)
	testenv.Tool(t, "bash")
	dir := t.TempDir()
	bin := filepath.Join(dir, "tokenbatch")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/tokenbatch").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "demo")
	cmd := exec.Command("bash", "../../scripts/demo.sh")
	cmd.Env = append(testenv.CleanEnv(), "TOKENBATCH_BIN="+bin, "DEMO_OUT="+out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{
		"column authentication_code1: has 5 digits", // the lost leading zero
		"the device is assigned to user walter, not xavier",
		"no IAM user nobody-here",
		"as expected, bob could not sign in",
		"bob signed in: session credentials issued",
	} {
		if !strings.Contains(stdout.String()+stderr.String(), want) {
			t.Errorf("demo output lacks %q\nstdout:\n%s\nstderr:\n%s", want, stdout.String(), stderr.String())
		}
	}
	for _, f := range []string{"report.csv", "report.jsonl", "report.junit.xml", "journal.jsonl"} {
		fi, err := os.Stat(filepath.Join(out, "reports", f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, fi.Mode().Perm())
		}
	}

	// No code of the manifest appears in what the demo printed, logged or wrote, apart
	// from the manifests themselves. A code counts only as a whole word, so it is not
	// confused with digits inside timestamps or request ids.
	texts := map[string]string{"stdout": stdout.String(), "stderr": stderr.String()}
	for _, f := range []string{"reports/report.csv", "reports/report.jsonl", "reports/report.junit.xml",
		"reports/journal.jsonl", "ledger.jsonl", "sim.log", "sim.out"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = string(b)
	}
	for _, code := range manifestCodes(t, filepath.Join(out, "manifest.csv")) {
		re := regexp.MustCompile(`(^|[^0-9A-Za-z])` + code + `([^0-9A-Za-z]|$)`)
		for name, text := range texts {
			if re.MatchString(text) {
				t.Errorf("a manifest code appears in %s", name)
			}
		}
	}
}

func manifestCodes(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, r := range rows[1:] {
		codes = append(codes, r[2], r[3])
	}
	if len(codes) < 50 {
		t.Fatalf("only %d codes in the demo's manifest", len(codes))
	}
	return codes
}
