package commands

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/executor"
	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
	"github.com/tokenbatch/tokenbatch/report"
)

// buildTokenbatch builds the binary, as kill -9 needs a process of its own.
func buildTokenbatch(t testing.TB) string {
	t.Helper()
	goTool := testenv.Tool(t, "go")
	bin := filepath.Join(t.TempDir(), "tokenbatch")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/tokenbatch/tokenbatch/cmd/tokenbatch")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// simProcess is `tokenbatch sim serve` running as a subprocess.
type simProcess struct {
	URL    string
	Ledger string
	cmd    *exec.Cmd
}

// startSimProcess serves fleet with extra flags until the test ends.
func startSimProcess(t testing.TB, bin string, fleet *iamsim.Fleet, extra ...string) *simProcess {
	t.Helper()
	dir := t.TempDir()
	fleetPath := filepath.Join(dir, "fleet.json")
	f, err := os.OpenFile(fleetPath, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := iamsim.WriteFleet(f, fleet); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s := &simProcess{Ledger: filepath.Join(dir, "ledger.jsonl")}
	args := append([]string{"sim", "serve", "--fleet", fleetPath, "--addr", "127.0.0.1:0", "--ledger", s.Ledger}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = testenv.CleanEnv()
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = io.Discard
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM) // our own child, by pid
		s.cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("sim serve: %v", err)
	}
	s.URL = strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	go io.Copy(io.Discard, stdout)
	return s
}

func (s *simProcess) okResyncs(t testing.TB) map[string]int {
	t.Helper()
	data, err := os.ReadFile(s.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var e iamsim.LedgerEntry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("ledger: %v", err)
		}
		if e.Action == "ResyncMFADevice" && e.Outcome == "ok" {
			ok[e.SerialNumber]++
		}
	}
	return ok
}

func writeManifest(t testing.TB, fleet *iamsim.Fleet, at time.Time) string {
	t.Helper()
	var b bytes.Buffer
	if err := iamsim.WriteManifest(&b, fleet, at); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "manifest.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// journalOutcomes counts the journal's outcome records.
func journalOutcomes(dir string) int {
	data, _ := os.ReadFile(filepath.Join(dir, executor.JournalName))
	return bytes.Count(data, []byte(`"type":"outcome"`))
}

func readReport(t testing.TB, dir string) []report.Outcome {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, report.JSONLName))
	if err != nil {
		t.Fatal(err)
	}
	var rows []report.Outcome
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var o report.Outcome
		if err := json.Unmarshal(line, &o); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, o)
	}
	return rows
}

// startRun starts `tokenbatch run` and returns when the journal holds n outcomes.
func startRun(t *testing.T, bin string, env, args []string, reportDir string, n int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for journalOutcomes(reportDir) < n {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("journal never reached %d outcomes; stderr:\n%s", n, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cmd
}

// TestRunInterruptKillResume: SIGTERM stops a run (143, the rest not_attempted); kill -9
// stops the resumed run in the middle; a last --resume finishes, and the simulator's
// ledger shows each device resynced exactly once. Resuming with another manifest is
// refused.
func TestRunInterruptKillResume(t *testing.T) {
	bin := buildTokenbatch(t)
	const n = 240
	fleet := iamsim.GenerateFleet(n, 11)
	// A fixed clock makes the manifest the same on every run: at "now", some device could
	// show the same code twice in a row (one in a million), which the plan refuses.
	start := time.Date(2030, 1, 1, 0, 0, 1, 0, time.UTC)
	sim := startSimProcess(t, bin, fleet, "--latency", "5ms-15ms", "--clock", start.Format(time.RFC3339))
	env := testenv.CleanEnv(testenv.Env(t.TempDir(), iamsim.ExampleAccessKeyID, iamsim.ExampleSecretAccessKey)...)
	manifest := writeManifest(t, fleet, start)
	reports := filepath.Join(t.TempDir(), "reports")
	args := []string{"run", "--manifest", manifest, "--endpoint-url", sim.URL, "--report-dir", reports,
		"--rate", "400", "--concurrency", "4"}
	resume := []string{"run", "--manifest", manifest, "--endpoint-url", sim.URL, "--resume", reports,
		"--rate", "400", "--concurrency", "4"}

	// 1. SIGTERM: in-flight requests finish, the rest is not_attempted, exit 143.
	cmd := startRun(t, bin, env, args, reports, 30)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != ExitSIGTERM {
		t.Fatalf("after SIGTERM: exit %d, want %d", code, ExitSIGTERM)
	}
	rows := readReport(t, reports)
	counts := map[report.Status]int{}
	for _, o := range rows {
		counts[o.Status]++
	}
	if len(rows) != n || counts[report.Succeeded] < 30 || counts[report.NotAttempted] < n/2 || counts[report.Failed] != 0 {
		t.Fatalf("after SIGTERM: %d rows, %v", len(rows), counts)
	}

	// 2. kill -9 in the middle of the resumed run.
	before := journalOutcomes(reports)
	cmd = startRun(t, bin, env, resume, reports, before+60)
	cmd.Process.Kill() // SIGKILL, our own child
	cmd.Wait()

	// 3. Resume to the end.
	r := runProc(t, append([]string{bin}, resume...), env, "")
	if r.Code != ExitOK && r.Code != ExitIncomplete {
		t.Fatalf("final resume: %s", r)
	}
	rows = readReport(t, reports)
	counts = map[report.Status]int{}
	for _, o := range rows {
		counts[o.Status]++
		switch {
		case o.Status == report.Succeeded:
		case o.Status == report.Skipped && o.ErrorCode == executor.CodeAlreadySucceeded:
		case o.Status == report.InDoubt && r.Code == ExitIncomplete:
			// killed with the request applied and its reply not journalled
		default:
			t.Errorf("%s: %s %s %s", o.SerialNumber, o.Status, o.ErrorCode, o.ErrorMessage)
		}
	}
	if len(rows) != n {
		t.Errorf("%d rows, want %d", len(rows), n)
	}
	ok := sim.okResyncs(t)
	for _, d := range fleet.Devices {
		if ok[d.SerialNumber] != 1 {
			t.Errorf("%s resynced %d times", d.SerialNumber, ok[d.SerialNumber])
		}
	}
	t.Logf("final report: %v\n%s", counts, r.Stdout)

	// 4. Another manifest cannot resume this journal.
	other := writeManifest(t, fleet, time.Now().Add(time.Minute))
	r = runProc(t, []string{bin, "run", "--manifest", other, "--endpoint-url", sim.URL, "--resume", reports}, env, "")
	if r.Code != ExitUsage || !strings.Contains(r.Stderr, "another run") || !strings.Contains(r.Stderr, "manifest") {
		t.Errorf("resume with another manifest: %s", r)
	}
	if got := sim.okResyncs(t); len(got) != n {
		t.Errorf("ledger changed: %d devices", len(got))
	}
}
