package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
	"github.com/tokenbatch/tokenbatch/plan"
)

// planNow is the clock of the testdata manifests' collected_at values.
var planNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// updateGolden rewrites the golden files: TOKENBATCH_UPDATE_GOLDEN=1 go test ./commands -run TestPlan
var updateGolden = os.Getenv("TOKENBATCH_UPDATE_GOLDEN") == "1"

// codeRE matches what could be an authentication code in output.
var codeRE = regexp.MustCompile(`\b\d{6}\b`)

func runPlanForTest(t *testing.T, o *planCommand) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runPlan(context.Background(), IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, o)
	code = exitCode(err, &errOut)
	return out.String(), errOut.String(), code
}

func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if updateGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with TOKENBATCH_UPDATE_GOLDEN=1 to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s\n--- got ---\n%s--- want ---\n%s", golden, got, want)
	}
}

// TestPlanBadManifests plans every malformed manifest in testdata/plan/bad against a
// loopback endpoint that counts requests: each must exit 252 with an error naming the
// line (golden), print no code, and send nothing.
func TestPlanBadManifests(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no request was expected", http.StatusTeapot)
	}))
	defer srv.Close()
	testenv.AWSEnv(t, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	files, _ := filepath.Glob("testdata/plan/bad/*.csv")
	if len(files) < 30 {
		t.Fatalf("found %d bad manifests", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".csv"), func(t *testing.T) {
			o := &planCommand{planOptions: planOptions{Manifest: filepath.ToSlash(f), MaxCodeAge: plan.DefaultMaxCodeAge,
				Output: "table", Now: planNow, Out: filepath.Join(t.TempDir(), "plan.json")}}
			o.AWS.EndpointURL, o.AWS.Region = srv.URL, "us-east-1"
			stdout, stderr, code := runPlanForTest(t, o)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d", code, ExitUsage)
			}
			if n := requests.Load(); n != 0 {
				t.Fatalf("%d requests sent", n)
			}
			if !strings.Contains(stderr, filepath.ToSlash(f)) {
				t.Errorf("stderr does not name the file:\n%s", stderr)
			}
			if m := codeRE.FindString(stdout + stderr); m != "" {
				t.Errorf("output holds a six-digit number %s", m)
			}
			if _, err := os.Stat(o.Out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a plan was saved: %v", err)
			}
			checkGolden(t, strings.TrimSuffix(f, ".csv")+".golden",
				fmt.Sprintf("exit %d\n-- stdout --\n%s-- stderr --\n%s", code, stdout, stderr))
		})
	}
}

// TestPlanGoodManifests plans valid manifests offline, in each output format.
func TestPlanGoodManifests(t *testing.T) {
	files, _ := filepath.Glob("testdata/plan/good/*.csv")
	if len(files) == 0 {
		t.Fatal("no good manifests")
	}
	for _, f := range files {
		for _, format := range planFormats {
			t.Run(strings.TrimSuffix(filepath.Base(f), ".csv")+"/"+format, func(t *testing.T) {
				o := &planCommand{planOptions: planOptions{Manifest: filepath.ToSlash(f), MaxCodeAge: plan.DefaultMaxCodeAge,
					Output: format, Now: planNow, Offline: true}}
				stdout, stderr, code := runPlanForTest(t, o)
				if code != ExitOK {
					t.Errorf("exit %d, want 0\n%s", code, stderr)
				}
				if m := codeRE.FindString(stdout + stderr); m != "" {
					t.Errorf("output holds a six-digit number %s", m)
				}
				if format == "json" && !json.Valid([]byte(stdout)) {
					t.Errorf("invalid JSON:\n%s", stdout)
				}
				// created_at is the planning time: fixed by Now
				checkGolden(t, strings.TrimSuffix(f, ".csv")+"."+format+".golden",
					fmt.Sprintf("exit %d\n-- stdout --\n%s-- stderr --\n%s", code, stdout, stderr))
			})
		}
	}
}

func TestPlanSkipInvalidAndSave(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "plan.json")
	o := &planCommand{planOptions: planOptions{Manifest: "testdata/plan/bad/lost-zero.csv", MaxCodeAge: plan.DefaultMaxCodeAge,
		Output: "table", Now: planNow, Offline: true, SkipInvalid: true, Out: out}}
	// lost-zero.csv: both rows are invalid, so even --skip-invalid has nothing to do
	if _, stderr, code := runPlanForTest(t, o); code != ExitUsage || !strings.Contains(stderr, "no valid device") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	o.Manifest = "testdata/plan/bad/duplicate-serial.csv" // bob's row is valid
	stdout, stderr, code := runPlanForTest(t, o)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "1 device to resync") || !strings.Contains(stderr, "2 rows with errors, 1 valid device") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("plan file mode %v, want 0600", fi.Mode().Perm())
	}
	p, err := plan.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 1 || p.Device(0).UserName != "bob" || p.Device(0).Code1 != "111111" || !p.CreatedAt.Equal(planNow) {
		t.Errorf("loaded plan: %d devices, first %+v, created %v", p.Len(), p.Device(0), p.CreatedAt)
	}
	if inv := p.Invalid(); len(inv) != 2 || inv[0].Code1 != "" {
		t.Errorf("invalid devices %+v", inv)
	}
}

// TestPlanManyProblems checks that problems beyond plan.MaxProblems are summed up, not
// printed one by one.
func TestPlanManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("user_name,serial_number,authentication_code1,authentication_code2\n")
	for i := range plan.MaxProblems + 3 {
		fmt.Fprintf(&b, "u%d,GAHT%08d,12345,123456\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "m.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &planCommand{planOptions: planOptions{Manifest: path, Output: "table", Offline: true, Now: planNow}}
	_, stderr, code := runPlanForTest(t, o)
	if code != ExitUsage || strings.Count(stderr, "\n") != plan.MaxProblems+3 ||
		!strings.Contains(stderr, "... 3 more problems not shown (lost_leading_zero 3)\n10003 rows with errors, 0 valid devices\n") {
		t.Errorf("exit %d, %d lines, ends with:\n%s", code, strings.Count(stderr, "\n"), stderr[max(0, len(stderr)-300):])
	}
}

func TestPlanUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    planOptions
		want string
	}{
		{"no manifest", planOptions{Output: "table"}, "--manifest is required"},
		{"bad output", planOptions{Manifest: "x.csv", Output: "yaml"}, `--output "yaml"`},
		{"offline check-iam", planOptions{Manifest: "x.csv", Output: "table", Offline: true, CheckIAM: true}, "--check-iam"},
		{"negative age", planOptions{Manifest: "x.csv", Output: "table", MaxCodeAge: -time.Second}, "--max-code-age"},
		{"missing file", planOptions{Manifest: "testdata/plan/nonexistent.csv", Output: "table", Offline: true}, "testdata/plan/nonexistent.csv: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runPlanForTest(t, &planCommand{planOptions: tc.o})
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 252 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestPlanNoCredentials(t *testing.T) {
	testenv.AWSEnv(t, "", "")
	o := &planCommand{planOptions: planOptions{Manifest: "testdata/plan/good/basic.csv", Output: "table", MaxCodeAge: time.Minute}}
	o.AWS.EndpointURL, o.AWS.Region = "http://127.0.0.1:1", "us-east-1"
	_, stderr, code := runPlanForTest(t, o)
	if code != ExitConfig || !strings.Contains(stderr, "--offline") {
		t.Errorf("exit %d, stderr %q; want 253 with a hint about --offline", code, stderr)
	}
}

func TestPlanStdin(t *testing.T) {
	data, err := os.ReadFile("testdata/plan/good/basic.csv")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	o := &planCommand{planOptions: planOptions{Manifest: "-", Output: "text", Offline: true, Now: planNow}}
	err = runPlan(context.Background(), IO{In: bytes.NewReader(data), Out: &out, ErrOut: &errOut}, o)
	if err != nil || strings.Count(out.String(), "DEVICE\t") != 3 {
		t.Errorf("err %v, stdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
}

// TestPlanSimulator plans the simulator's own manifest with its credentials, then one
// with rows the sample breaks on purpose, with --check-iam.
func TestPlanSimulator(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	testenv.AWSEnv(t, sim.AccessKeyID, sim.SecretAccessKey)
	dir := t.TempDir()
	manifest := sim.Manifest(t, sim.Now())
	good := filepath.Join(dir, "good.csv")
	if err := os.WriteFile(good, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	newOpts := func(path string, checkIAM bool) *planCommand {
		o := &planCommand{planOptions: planOptions{Manifest: path, Output: "json", MaxCodeAge: plan.DefaultMaxCodeAge, CheckIAM: checkIAM}}
		o.AWS.EndpointURL, o.AWS.Region = sim.URL, "us-east-1"
		return o
	}
	rows := strings.Count(strings.TrimSpace(string(manifest)), "\n")
	for _, check := range []bool{false, true} {
		stdout, stderr, code := runPlanForTest(t, newOpts(good, check))
		if code != ExitOK {
			t.Fatalf("check-iam %v: exit %d\n%s", check, code, stderr)
		}
		var got struct {
			AccountID string `json:"account_id"`
			Partition string `json:"partition"`
			Valid     int    `json:"valid"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatal(err)
		}
		if got.AccountID != sim.Fleet.AccountID || got.Partition != "aws" || got.Valid != rows {
			t.Errorf("check-iam %v: plan %+v, want account %s, %d devices", check, got, sim.Fleet.AccountID, rows)
		}
	}

	// Rows broken on purpose: an unknown user, another user's serial, a serial that
	// does not exist; then another account's device.
	lines := strings.Split(strings.TrimSpace(string(manifest)), "\n")
	first := strings.Split(lines[1], ",")
	second := strings.Split(lines[2], ",")
	acct := sim.Fleet.AccountID
	before := len(sim.Ledger())
	for _, tc := range []struct {
		rows string
		want []string
	}{
		{"nobody-here,arn:aws:iam::" + acct + ":mfa/nobody-here,123456,234567\n" +
			first[0] + "," + second[1] + ",123456,234567\n" +
			first[0] + ",arn:aws:iam::" + acct + ":mfa/no-such-device,123456,234567\n",
			[]string{
				":2: column user_name: no IAM user nobody-here in account " + acct,
				":3: column serial_number: the device is assigned to user " + second[0] + ", not " + first[0],
				":4: column serial_number: user " + first[0] + " has no MFA device with this serial number",
				"3 rows with errors, 0 valid devices",
			}},
		{first[0] + ",arn:aws:iam::999999999999:mfa/" + first[0] + ",123456,234567\n",
			[]string{":2: column serial_number: device of account 999999999999, but the credentials are for account " + acct}},
		{first[0] + ",arn:aws-cn:iam::" + acct + ":mfa/" + first[0] + ",123456,234567\n",
			[]string{":2: column serial_number: device in partition aws-cn, but the credentials are for partition aws"}},
	} {
		bad := filepath.Join(dir, "bad.csv")
		if err := os.WriteFile(bad, []byte(lines[0]+"\n"+tc.rows), 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runPlanForTest(t, newOpts(bad, true))
		if code != ExitUsage {
			t.Fatalf("exit %d, want 252\n%s", code, stderr)
		}
		for _, want := range tc.want {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
	}
	if len(sim.Ledger()) != before {
		t.Errorf("planning changed IAM: ledger grew from %d to %d", before, len(sim.Ledger()))
	}
}
