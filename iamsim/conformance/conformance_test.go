package conformance

// The harness: TestMain builds tokenbatch once; each test starts its own simulator
// (`tokenbatch sim serve --addr 127.0.0.1:0`), runs real clients against it with an
// environment that keeps them on loopback, and kills the simulator by pid at cleanup.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tokenbatch/tokenbatch/internal/testenv"
)

var (
	binPath   string // the tokenbatch binary TestMain builds
	fleetPath string // the sample fleet, absolute
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tokenbatch-conformance-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: go not found on PATH: %v\n", err)
		return 1
	}
	binPath = filepath.Join(dir, "tokenbatch")
	build := exec.Command(goTool, "build", "-o", binPath, "github.com/tokenbatch/tokenbatch/cmd/tokenbatch")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: cannot build tokenbatch: %v\n%s", err, out)
		return 1
	}
	fleetPath, err = filepath.Abs(filepath.Join("..", "..", "samples", "fleet.json"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		return 1
	}
	return m.Run()
}

// Credentials of the sample fleet: AWS's documented example pair.
const (
	accessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// step is the TOTP time step of virtual and hardware MFA devices.
const step = 30 * time.Second

// sim is one running `tokenbatch sim serve`.
type sim struct {
	URL    string // http://127.0.0.1:PORT or https://...
	Addr   string // 127.0.0.1:PORT
	HTTP   *http.Client
	stderr *testenv.SyncBuffer
	// clock is the --clock the simulator started at (zero: the host's time), launched
	// the host time just before it started: its clock reads about clock+time.Since(launched).
	clock, launched time.Time
}

// now estimates the simulator's clock.
func (s *sim) now() time.Time {
	if s.clock.IsZero() {
		return time.Now()
	}
	return s.clock.Add(time.Since(s.launched))
}

// startSim starts the simulator on the sample fleet (unless flags name another one)
// with extra flags, and waits for its first stdout line.
func startSim(t *testing.T, flags ...string) *sim {
	t.Helper()
	args := []string{"sim", "serve", "--addr", "127.0.0.1:0"}
	if !hasFlag(flags, "--fleet") {
		args = append(args, "--fleet", fleetPath)
	}
	args = append(args, flags...)
	cmd := exec.Command(binPath, args...)
	cmd.Env = testenv.CleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{stderr: &testenv.SyncBuffer{}, HTTP: &http.Client{Timeout: 10 * time.Second}}
	cmd.Stderr = s.stderr
	for i, f := range flags {
		if f == "--clock" && i+1 < len(flags) {
			if c, err := time.Parse(time.RFC3339, flags[i+1]); err == nil {
				s.clock = c
			}
		}
	}
	s.launched = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start the simulator: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("simulator stderr:\n%s", s.stderr.String())
		}
	})
	first := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		first <- line
		_, _ = io.Copy(io.Discard, r) // never block the simulator on a full pipe
	}()
	var line string
	select {
	case line = <-first:
	case <-time.After(20 * time.Second):
		t.Fatalf("simulator printed no line within 20 s (args %q)", args)
	}
	line = strings.TrimSpace(line)
	url, ok := strings.CutPrefix(line, "listening on ")
	if !ok || !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
		t.Fatalf("simulator's first line is %q, want \"listening on http://HOST:PORT\" (args %q)", line, args)
	}
	s.URL = strings.TrimRight(url, "/")
	s.Addr = s.URL[strings.Index(s.URL, "://")+3:]
	if host, _, err := net.SplitHostPort(s.Addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("simulator listens on %q, want 127.0.0.1:PORT", s.Addr)
	}
	return s
}

func hasFlag(flags []string, name string) bool {
	for _, f := range flags {
		if f == name || strings.HasPrefix(f, name+"=") {
			return true
		}
	}
	return false
}

// ledgerEntry is one JSON line of the simulator's ledger.
type ledgerEntry struct {
	Action       string `json:"action"`
	UserName     string `json:"user_name"`
	SerialNumber string `json:"serial_number"`
	Outcome      string `json:"outcome"`
	RequestID    string `json:"request_id"`
	Time         string `json:"time"`
	Fault        string `json:"fault"` // "drop" or "lost-reply" when one was injected
}

// ledger reads GET /_sim/ledger.
func (s *sim) ledger(t *testing.T) []ledgerEntry {
	t.Helper()
	resp, err := s.HTTP.Get(s.URL + "/_sim/ledger")
	if err != nil {
		t.Fatalf("get ledger: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("get ledger: status %d, err %v: %s", resp.StatusCode, err, body)
	}
	return parseLedger(t, body)
}

func parseLedger(t *testing.T, body []byte) []ledgerEntry {
	t.Helper()
	var out []ledgerEntry
	for i, line := range bytes.Split(body, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e ledgerEntry
		dec := json.NewDecoder(bytes.NewReader(line))
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("ledger line %d is not JSON: %v: %s", i+1, err, line)
		}
		out = append(out, e)
	}
	return out
}

// ledgerFor returns the ledger's entries for a serial number.
func ledgerFor(entries []ledgerEntry, serial string) []ledgerEntry {
	var out []ledgerEntry
	for _, e := range entries {
		if e.SerialNumber == serial {
			out = append(out, e)
		}
	}
	return out
}

// result is what a client process did.
type result struct {
	Stdout, Stderr string
	Code           int
}

// String shows a result in a failure message, with session secrets redacted (a call
// that should have failed may have printed credentials).
func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.Code, redact(r.Stdout), r.Stderr)
}

var secretJSON = regexp.MustCompile(`("(?:SecretAccessKey|SessionToken)"\s*:\s*)"[^"]*"`)

func redact(s string) string { return secretJSON.ReplaceAllString(s, `$1"REDACTED"`) }

// awsEnv returns a subprocess environment with empty AWS config files, no instance
// metadata, one attempt per call, the given static credentials and extra variables.
func awsEnv(t *testing.T, key, secret string, extra ...string) []string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return testenv.CleanEnv(append(testenv.Env(dir, key, secret), extra...)...)
}

// execute runs a client process with stdin and a deadline.
func execute(t *testing.T, env []string, stdin []byte, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	default:
		t.Fatalf("cannot run %s: %v", argv[0], err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within 90 s: %s", argv[0], r)
	}
	return r
}

// cli is one AWS CLI bound to a simulator and credentials.
type cli struct {
	name     string   // for messages
	argv     []string // the program and its leading arguments
	endpoint string
	env      []string
}

// cliV2 is the AWS CLI v2 of the Debian package.
func cliV2(t *testing.T, s *sim, key, secret string, extra ...string) cli {
	t.Helper()
	if _, err := os.Stat(testenv.AWSCLIv2); err != nil {
		testenv.Missing(t, "the AWS CLI v2 (%s) is missing", testenv.AWSCLIv2)
	}
	return cli{name: "aws cli v2", argv: []string{testenv.AWSCLIv2}, endpoint: s.URL, env: awsEnv(t, key, secret, extra...)}
}

// cliV1 is the AWS CLI v1 of the machine's python3.
func cliV1(t *testing.T, s *sim, key, secret string, extra ...string) cli {
	t.Helper()
	py := testenv.Python(t, "awscli")
	return cli{name: "aws cli v1", argv: []string{py, "-m", "awscli"}, endpoint: s.URL, env: awsEnv(t, key, secret, extra...)}
}

// run runs the CLI against the simulator: args then --endpoint-url.
func (c cli) run(t *testing.T, args ...string) result {
	t.Helper()
	argv := append(append(append([]string{}, c.argv...), args...), "--endpoint-url", c.endpoint)
	return execute(t, c.env, nil, argv...)
}

// json runs the CLI with --output json, requires exit 0 and decodes stdout into v.
func (c cli) json(t *testing.T, v any, args ...string) {
	t.Helper()
	r := c.run(t, append(args, "--output", "json")...)
	if r.Code != 0 {
		t.Fatalf("%s %s: %s", c.name, strings.Join(args[:min(2, len(args))], " "), r)
	}
	if err := json.Unmarshal([]byte(r.Stdout), v); err != nil {
		t.Fatalf("%s %s: stdout is not JSON: %v: %q", c.name, strings.Join(args[:min(2, len(args))], " "), err, r.Stdout)
	}
}

// wantServiceError checks the exit code and the CLI's "An error occurred (CODE)" line.
func wantServiceError(t *testing.T, what string, r result, exit int, code string) {
	t.Helper()
	if r.Code != exit || !strings.Contains(r.Stderr, "An error occurred ("+code+")") {
		t.Errorf("%s: want exit %d and \"An error occurred (%s)\", got %s", what, exit, code, r)
	}
}

// python runs a script of testdata with the parameters as JSON on stdin and decodes
// the JSON object it prints last into out.
func python(t *testing.T, script string, params, out any, modules ...string) {
	t.Helper()
	py := testenv.Python(t, modules...)
	in, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join("testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	r := execute(t, awsEnv(t, "", ""), in, py, path)
	if r.Code != 0 {
		t.Fatalf("python3 %s: %s", script, r)
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), out); err != nil {
		t.Fatalf("python3 %s: last line of stdout is not JSON: %v: %s", script, err, r)
	}
}

// totpCode is the code a token with the seed and drift (in steps) shows at a time.
func totpCode(t *testing.T, seed string, at time.Time, drift int) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(seed, at.Add(time.Duration(drift)*step), totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		t.Fatalf("cannot compute a totp code: %v", err)
	}
	return c
}

// fleet is the part of the fleet file (docs/simulator.md) the tests read. It is
// decoded here, not with package iamsim, so the tests check the simulator against
// the documented format rather than against its own code.
type fleet struct {
	AccountID  string     `json:"account_id"`
	Alias      string     `json:"account_alias"`
	AccessKeys []fleetKey `json:"access_keys"`
	Users      []struct {
		UserName   string    `json:"user_name"`
		Path       string    `json:"path"`
		CreateDate time.Time `json:"create_date"`
	} `json:"users"`
	Roles []struct {
		RoleName    string `json:"role_name"`
		Path        string `json:"path"`
		RequiresMFA bool   `json:"requires_mfa"`
	} `json:"roles"`
	Devices []device `json:"devices"`
}

type fleetKey struct {
	ID          string     `json:"access_key_id"`
	Secret      string     `json:"secret_access_key"`
	UserName    string     `json:"user_name"`
	DenyActions []string   `json:"deny_actions"`
	Expires     *time.Time `json:"expires"`
}

type device struct {
	SerialNumber     string `json:"serial_number"`
	Kind             string `json:"kind"`
	Seed             string `json:"seed"`
	DriftSteps       int    `json:"drift_steps"`
	ServerDriftSteps int    `json:"server_drift_steps"`
	UserName         string `json:"user_name"`
}

func loadFleet(t *testing.T) *fleet {
	t.Helper()
	data, err := os.ReadFile(fleetPath)
	if err != nil {
		t.Fatalf("read the sample fleet: %v", err)
	}
	var f fleet
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", fleetPath, err)
	}
	if f.AccountID == "" || len(f.Devices) == 0 || len(f.Users) == 0 {
		t.Fatalf("%s: no account, devices or users", fleetPath)
	}
	return &f
}

// key returns the fleet's access key of a user.
func (f *fleet) key(t *testing.T, user string) (id, secret string) {
	t.Helper()
	for _, k := range f.AccessKeys {
		if k.UserName == user && len(k.DenyActions) == 0 && k.Expires == nil {
			return k.ID, k.Secret
		}
	}
	t.Fatalf("the sample fleet has no usable access key of user %q", user)
	return "", ""
}

// hasKey reports whether a user has a usable access key.
func (f *fleet) hasKey(user string) bool {
	for _, k := range f.AccessKeys {
		if k.UserName == user && len(k.DenyActions) == 0 && k.Expires == nil {
			return true
		}
	}
	return false
}

// admin is the user of the fleet's first access key (the documented example pair).
func (f *fleet) admin(t *testing.T) string {
	t.Helper()
	if len(f.AccessKeys) == 0 || f.AccessKeys[0].ID != accessKeyID {
		t.Fatalf("the sample fleet's first access key is not %s", accessKeyID)
	}
	return f.AccessKeys[0].UserName
}

// resyncWindow is the simulator's default resync search window in steps, as
// docs/simulator.md documents it (±30 minutes).
const resyncWindow = 60

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// device returns the first device that satisfies ok, or fails the test.
func (f *fleet) device(t *testing.T, what string, ok func(d device) bool) device {
	t.Helper()
	for _, d := range f.Devices {
		if ok(d) {
			return d
		}
	}
	t.Fatalf("the sample fleet has no %s", what)
	return device{}
}

// drifted: assigned, sign-in rejects the token's code, a resync can fix it.
func drifted(kind string) func(d device) bool {
	return func(d device) bool {
		return d.UserName != "" && (kind == "" || d.Kind == kind) &&
			abs(d.DriftSteps-d.ServerDriftSteps) > 1 && abs(d.DriftSteps) < resyncWindow-2
	}
}

// tooFar: assigned, drifted beyond the resync window.
func tooFar(d device) bool { return d.UserName != "" && abs(d.DriftSteps) > resyncWindow+2 }

// userWithoutDevice returns a user that has no MFA device in the fleet.
func (f *fleet) userWithoutDevice(t *testing.T) string {
	t.Helper()
	return f.usersWithoutDevice(t, 1)[0]
}

// usersWithoutDevice returns n distinct users without an MFA device.
func (f *fleet) usersWithoutDevice(t *testing.T, n int) []string {
	t.Helper()
	has := map[string]bool{}
	for _, d := range f.Devices {
		has[d.UserName] = true
	}
	var out []string
	for _, u := range f.Users {
		if !has[u.UserName] {
			out = append(out, u.UserName)
			if len(out) == n {
				return out
			}
		}
	}
	t.Fatalf("the sample fleet has fewer than %d users without an mfa device", n)
	return nil
}

// fixedTime is where tests start the simulator's clock with --clock (it advances from
// there), so codes are known: a test's first 30 s fall in one TOTP step. The simulator
// accepts signatures near its clock or the host's, so real clients still sign with the
// host's time.
func fixedTime() time.Time {
	return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
}

// manifestRow is one row of `tokenbatch sim manifest`.
type manifestRow struct {
	UserName, SerialNumber, Code1, Code2 string
}

// manifest runs `tokenbatch sim manifest --fleet FLEET --at AT` and returns its rows by
// serial number, checking the header.
func manifest(t *testing.T, at time.Time) map[string]manifestRow {
	t.Helper()
	r := execute(t, testenv.CleanEnv(), nil, binPath, "sim", "manifest", "--fleet", fleetPath, "--at", at.Format(time.RFC3339))
	if r.Code != 0 {
		t.Fatalf("tokenbatch sim manifest: exit %d: %s", r.Code, r.Stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(r.Stdout)).ReadAll()
	if err != nil {
		t.Fatalf("tokenbatch sim manifest: output is not csv: %v", err)
	}
	if len(recs) < 2 || strings.Join(recs[0], ",") != "user_name,serial_number,authentication_code1,authentication_code2" {
		t.Fatalf("tokenbatch sim manifest: want the header user_name,serial_number,authentication_code1,authentication_code2 and rows, got %d records starting %q", len(recs), recs[0])
	}
	rows := map[string]manifestRow{}
	for _, rec := range recs[1:] {
		rows[rec[1]] = manifestRow{UserName: rec[0], SerialNumber: rec[1], Code1: rec[2], Code2: rec[3]}
	}
	return rows
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not json: %v: %q", err, s)
	}
}

// TestRedact: failure messages never show session secrets.
func TestRedact(t *testing.T) {
	in := `{"Credentials": {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s3cr3t", "SessionToken":"t0k3n"}}`
	got := redact(in)
	if strings.Contains(got, "s3cr3t") || strings.Contains(got, "t0k3n") || !strings.Contains(got, "ASIAEXAMPLE") {
		t.Errorf("redact(%q) = %q", in, got)
	}
}
