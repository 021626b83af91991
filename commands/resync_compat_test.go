package commands

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
)

// The AWS CLI v2 and tokenbatch run side by side, as processes, against one simulator
// each (HTTP and HTTPS), with the same command lines and environments.

// TestHelperProcess is not a test: tokenbatch re-executes the test binary to run
// commands.Main in a process of its own (its environment, stdin and exit code).
func TestHelperProcess(t *testing.T) {
	if os.Getenv("TOKENBATCH_HELPER_PROCESS") != "1" {
		t.Skip("helper process")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(Main(args, os.Stdin, os.Stdout, os.Stderr))
}

type procResult struct {
	Code           int
	Stdout, Stderr string
	Wall           time.Duration
	CPU            time.Duration
}

func (r procResult) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.Code, r.Stdout, r.Stderr)
}

// runProc runs argv with exactly env (plus PATH and HOME) and stdin.
func runProc(t testing.TB, argv []string, env []string, stdin string) procResult {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8"}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := procResult{Stdout: out.String(), Stderr: errOut.String(), Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		r.Code = cmd.ProcessState.ExitCode()
		r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	} else if err != nil {
		t.Fatalf("running %v: %v", argv, err)
	}
	return r
}

// tokenbatchArgv runs tokenbatch through TestHelperProcess.
func tokenbatchArgv(args ...string) []string {
	return append([]string{os.Args[0], "-test.run=^TestHelperProcess$", "--"}, args...)
}

func runTokenbatch(t testing.TB, args []string, env []string, stdin string) procResult {
	return runProc(t, tokenbatchArgv(args...), append(slices.Clip(env), "TOKENBATCH_HELPER_PROCESS=1"), stdin)
}

func runAWSv2(t testing.TB, args []string, env []string, stdin string) procResult {
	return runProc(t, append([]string{testenv.Tool(t, testenv.AWSCLIv2), "iam"}, args...), env, stdin)
}

// devicePool hands out each assigned device once, so that every successful resync uses
// codes never used before.
type devicePool struct {
	mu   sync.Mutex
	next int
	devs [][2]string // user, serial
}

func newDevicePool(s *simtest.Sim) *devicePool {
	p := &devicePool{}
	for _, d := range s.Fleet.Devices {
		// mfa-admin's device is kept for the mfa_serial profile; large drifts may fall
		// out of the simulator's window.
		if d.UserName == "" || d.UserName == "mfa-admin" || d.DriftSteps > 20 || d.DriftSteps < -20 {
			continue
		}
		p.devs = append(p.devs, [2]string{d.UserName, d.SerialNumber})
	}
	return p
}

func (p *devicePool) take(t testing.TB) (user, serial string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= len(p.devs) {
		t.Fatalf("device pool exhausted (%d devices)", len(p.devs))
	}
	d := p.devs[p.next]
	p.next++
	return d[0], d[1]
}

// validArgs returns a resync command line with two valid consecutive codes for a fresh
// device.
func validArgs(t testing.TB, s *simtest.Sim, p *devicePool) (args []string, codes [2]string) {
	t.Helper()
	user, serial := p.take(t)
	now := s.Now()
	codes = [2]string{s.TokenCode(t, serial, now), s.TokenCode(t, serial, now.Add(30*time.Second))}
	return []string{"--user-name", user, "--serial-number", serial,
		"--authentication-code1", codes[0], "--authentication-code2", codes[1]}, codes
}

// compatEnv is the environment of both tools: empty config files in dir, the fleet's
// key, region us-east-1, no instance metadata, one attempt.
func compatEnv(dir, key, secret string) []string {
	return testenv.Env(dir, key, secret)
}

func newAWSDir(t testing.TB) string {
	dir := t.TempDir()
	for _, f := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func withoutRegion(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_REGION=") && !strings.HasPrefix(kv, "AWS_DEFAULT_REGION=") {
			out = append(out, kv)
		}
	}
	return out
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type compatCase struct {
	name string
	// args returns the command line after `aws iam` / `tokenbatch`, given which tool
	// runs it (each needs its own device for a successful resync).
	args func(t *testing.T, tool string) []string
	env  func(t *testing.T, base []string) []string
	// The expected outcome for each tool: exit code, and regexps on stderr and stdout.
	code, tbCode       int    // tbCode: when tokenbatch deliberately differs (documented)
	stderr, stdout     string // regexps both must match; stdout "^$" means empty
	tbStderr, tbStdout string // when tokenbatch's text differs
	sameStdout         bool
	sameStderr         bool
}

func TestResyncCompatAWSCLIv2(t *testing.T) {
	testenv.Tool(t, testenv.AWSCLIv2)
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	tlsSim := simtest.Start(t, simtest.Options{TLS: true})
	pool, tlsPool := newDevicePool(sim), newDevicePool(tlsSim)
	ep := []string{"--endpoint-url", sim.URL}
	tlsEP := []string{"--endpoint-url", tlsSim.URL}
	valid := func(extra ...string) func(t *testing.T, tool string) []string {
		return func(t *testing.T, tool string) []string {
			a, _ := validArgs(t, sim, pool)
			return append(append(a, ep...), extra...)
		}
	}
	fixed := func(args ...string) func(*testing.T, string) []string {
		return func(*testing.T, string) []string { return args }
	}
	alice := "arn:aws:iam::123456789012:mfa/alice"
	bob := "arn:aws:iam::123456789012:mfa/bob"
	dead := "http://" + closedPort(t)

	cases := []compatCase{
		{name: "success", args: valid(), code: 0, stdout: "^$", stderr: "^$"},
		{name: "wrong code", code: 254,
			args:   fixed(append([]string{"--user-name", "alice", "--serial-number", alice, "--authentication-code1", "000000", "--authentication-code2", "000001"}, ep...)...),
			stderr: `^\nAn error occurred \(InvalidAuthenticationCode\) when calling the ResyncMFADevice operation \(reached max retries: 0\): Authentication code for device is not valid.\n$`, sameStderr: true},
		{name: "wrong code, default attempts", code: 254, sameStderr: true,
			args: fixed(append([]string{"--user-name", "alice", "--serial-number", alice, "--authentication-code1", "000000", "--authentication-code2", "000001"}, ep...)...),
			env: func(t *testing.T, base []string) []string {
				var out []string
				for _, kv := range base {
					if !strings.HasPrefix(kv, "AWS_MAX_ATTEMPTS=") && !strings.HasPrefix(kv, "AWS_RETRY_MODE=") {
						out = append(out, kv)
					}
				}
				return out
			},
			stderr: `^\nAn error occurred \(InvalidAuthenticationCode\) when calling the ResyncMFADevice operation: Authentication code for device is not valid.\n$`},
		{name: "unknown user", code: 254,
			args:   fixed(append([]string{"--user-name", "nobody", "--serial-number", alice, "--authentication-code1", "123456", "--authentication-code2", "234567"}, ep...)...),
			stderr: `^\nAn error occurred \(NoSuchEntity\) when calling the ResyncMFADevice operation \(reached max retries: 0\): The user with name nobody cannot be found.\n$`, sameStderr: true},
		{name: "serial of another user", code: 254,
			args:   fixed(append([]string{"--user-name", "alice", "--serial-number", bob, "--authentication-code1", "123456", "--authentication-code2", "234567"}, ep...)...),
			stderr: `^\nAn error occurred \(NoSuchEntity\) when calling the ResyncMFADevice operation \(reached max retries: 0\): MFA Device with serial number arn:aws:iam::123456789012:mfa/bob does not exist.\n$`, sameStderr: true},
		{name: "five digits", code: 252,
			args:   fixed(append([]string{"--user-name", "alice", "--serial-number", alice, "--authentication-code1", "12345", "--authentication-code2", "234567"}, ep...)...),
			stderr: `(?m)^Parameter validation failed:\nInvalid length for parameter AuthenticationCode1, value: 5, valid min length: 6$`},
		{name: "missing option", code: 252,
			args:   fixed(append([]string{"--user-name", "alice", "--serial-number", alice, "--authentication-code1", "123456"}, ep...)...),
			stderr: `error: the following arguments are required: --authentication-code2\n`},
		{name: "cli-input-json alone", code: 0, stdout: "^$", stderr: "^$",
			args: func(t *testing.T, tool string) []string {
				a, c := validArgs(t, sim, pool)
				return append([]string{"--cli-input-json", fmt.Sprintf(
					`{"UserName":%q,"SerialNumber":%q,"AuthenticationCode1":%q,"AuthenticationCode2":%q}`, a[1], a[3], c[0], c[1])}, ep...)
			}},
		{name: "cli-input-json from a file, overridden by flags", code: 0, stdout: "^$", stderr: "^$",
			args: func(t *testing.T, tool string) []string {
				a, c := validArgs(t, sim, pool)
				f := filepath.Join(t.TempDir(), "in.json")
				// The file's user and codes are wrong; the flags fix them.
				doc := fmt.Sprintf(`{"UserName":"nobody","SerialNumber":%q,"AuthenticationCode1":"000000","AuthenticationCode2":"000000"}`, a[3])
				if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
					t.Fatal(err)
				}
				return append([]string{"--cli-input-json", "file://" + f, "--user-name", a[1],
					"--authentication-code1", c[0], "--authentication-code2", c[1]}, ep...)
			}},
		{name: "cli-input-json unknown member", code: 252,
			args:   fixed(append([]string{"--cli-input-json", `{"UserName":"alice","Foo":1}`}, ep...)...),
			stderr: `Missing required parameter in input: "SerialNumber"\n(.|\n)*Unknown parameter in input: "Foo", must be one of: UserName, SerialNumber, AuthenticationCode1, AuthenticationCode2`},
		{name: "skeleton input", code: 0, sameStdout: true, stdout: `"AuthenticationCode2": ""`,
			args: fixed("--generate-cli-skeleton")},
		{name: "skeleton yaml-input", code: 0, sameStdout: true, stdout: `UserName: ''  # \[REQUIRED\]`,
			args: fixed("--generate-cli-skeleton", "yaml-input")},
		{name: "skeleton output", code: 0, sameStdout: true, stdout: "^$", stderr: "^$",
			args: fixed("--generate-cli-skeleton", "output", "--user-name", "alice", "--serial-number", alice,
				"--authentication-code1", "123456", "--authentication-code2", "234567", "--endpoint-url", dead)},
		{name: "skeleton output checks the parameters", code: 252,
			args: fixed("--generate-cli-skeleton", "output", "--user-name", "alice", "--serial-number", alice,
				"--authentication-code1", "12345", "--authentication-code2", "234567"),
			stderr: `Invalid length for parameter AuthenticationCode1, value: 5, valid min length: 6`},
		{name: "output json query", args: valid("--output", "json", "--query", "Foo"), code: 0, stdout: "^null\n$", sameStdout: true},
		{name: "output text query", args: valid("--output", "text", "--query", "Foo"), code: 0, stdout: "^None\n$", sameStdout: true},
		{name: "output table", args: valid("--output", "table", "--color", "on"), code: 0, stdout: "^$"},
		{name: "output yaml", args: valid("--output", "yaml", "--no-paginate", "--color", "off"), code: 0, stdout: "^$"},
		{name: "version", args: fixed("--version"), code: 0, stdout: `^(aws-cli|tokenbatch)/\S+ `},
		{name: "no-sign-request against a verifying simulator", code: 254,
			args:   fixed(append([]string{"--user-name", "alice", "--serial-number", alice, "--authentication-code1", "123456", "--authentication-code2", "234567", "--no-sign-request"}, ep...)...),
			stderr: `^\nAn error occurred \(MissingAuthenticationToken\) when calling the ResyncMFADevice operation \(reached max retries: 0\): Request is missing Authentication Token\n$`, sameStderr: true},
		{name: "nothing listening, short timeouts", code: 255,
			args: fixed("--user-name", "alice", "--serial-number", alice, "--authentication-code1", "123456", "--authentication-code2", "234567",
				"--endpoint-url", dead, "--cli-connect-timeout", "1", "--cli-read-timeout", "1"),
			stderr: `^\nCould not connect to the endpoint URL: "` + regexp.QuoteMeta(dead) + `/"\n$`},
		{name: "profile from a config file", code: 0, stdout: "^$", stderr: "^$",
			args: func(t *testing.T, tool string) []string {
				return append(valid()(t, tool), "--profile", "fleet")
			},
			env: func(t *testing.T, base []string) []string {
				dir := newAWSDir(t)
				writeFile(t, filepath.Join(dir, "config"), "[profile fleet]\nregion = us-east-1\noutput = json\n")
				writeFile(t, filepath.Join(dir, "credentials"), fmt.Sprintf("[fleet]\naws_access_key_id = %s\naws_secret_access_key = %s\n", sim.AccessKeyID, sim.SecretAccessKey))
				return withoutRegion(compatEnv(dir, "", ""))
			}},
		{name: "missing profile", code: 255,
			args:   fixed(append([]string{"--user-name", "alice", "--serial-number", alice, "--authentication-code1", "123456", "--authentication-code2", "234567", "--profile", "nope"}, ep...)...),
			stderr: `^\nThe config profile \(nope\) could not be found\n$`},
		{name: "missing profile from AWS_PROFILE", code: 255,
			args:   fixed(append([]string{"--user-name", "alice", "--serial-number", alice, "--authentication-code1", "123456", "--authentication-code2", "234567"}, ep...)...),
			env:    func(t *testing.T, base []string) []string { return append(base, "AWS_PROFILE=nope") },
			stderr: `^\nThe config profile \(nope\) could not be found\n$`},
		{name: "no region", code: 253,
			args:   fixed(append([]string{"--user-name", "alice", "--serial-number", alice, "--authentication-code1", "123456", "--authentication-code2", "234567"}, ep...)...),
			env:    func(t *testing.T, base []string) []string { return withoutRegion(base) },
			stderr: `^\nYou must specify a region. You can also configure your region by running "aws configure".\n$`},
		{name: "no credentials", code: 253,
			args: fixed(append([]string{"--user-name", "alice", "--serial-number", alice, "--authentication-code1", "123456", "--authentication-code2", "234567"}, ep...)...),
			env: func(t *testing.T, base []string) []string {
				return compatEnv(newAWSDir(t), "", "")
			},
			stderr: `^\nUnable to locate credentials. You can configure credentials by running "aws configure".\n$`},
		// Documented differences: tokenbatch checks every IAM constraint locally.
		{name: "seven digits (documented difference)", code: 254, tbCode: 252,
			args:     fixed(append([]string{"--user-name", "alice", "--serial-number", alice, "--authentication-code1", "1234567", "--authentication-code2", "234567"}, ep...)...),
			stderr:   `An error occurred \(ValidationError\) when calling the ResyncMFADevice operation`,
			tbStderr: `^\nParameter validation failed:\nInvalid length for parameter AuthenticationCode1, value: 7, valid max length: 6\n$`},
		{name: "user name with a space (documented difference)", code: 254, tbCode: 252,
			args:     fixed(append([]string{"--user-name", "a b", "--serial-number", alice, "--authentication-code1", "123456", "--authentication-code2", "234567"}, ep...)...),
			stderr:   `An error occurred \(ValidationError\) when calling the ResyncMFADevice operation`,
			tbStderr: `Invalid value for parameter UserName, value: a b, valid pattern: `},
		// TLS with a self-signed certificate.
		{name: "tls without a CA bundle", code: 255,
			args:   fixed(append([]string{"--user-name", "alice", "--serial-number", alice, "--authentication-code1", "123456", "--authentication-code2", "234567"}, tlsEP...)...),
			stderr: `^\nSSL validation failed for ` + regexp.QuoteMeta(tlsSim.URL) + `/ `},
		{name: "tls with --ca-bundle", code: 0, stdout: "^$", stderr: "^$",
			args: func(t *testing.T, tool string) []string {
				a, _ := validArgs(t, tlsSim, tlsPool)
				return append(append(a, tlsEP...), "--ca-bundle", tlsSim.CAFile)
			}},
		{name: "tls with AWS_CA_BUNDLE", code: 0, stdout: "^$", stderr: "^$",
			args: func(t *testing.T, tool string) []string {
				a, _ := validArgs(t, tlsSim, tlsPool)
				return append(a, tlsEP...)
			},
			env: func(t *testing.T, base []string) []string { return append(base, "AWS_CA_BUNDLE="+tlsSim.CAFile) }},
		{name: "tls with --no-verify-ssl", code: 0, stdout: "^$",
			args: func(t *testing.T, tool string) []string {
				a, _ := validArgs(t, tlsSim, tlsPool)
				return append(append(a, tlsEP...), "--no-verify-ssl")
			},
			stderr: `InsecureRequestWarning: Unverified HTTPS request is being made to host '127.0.0.1'`},
	}
	// Clipped: the parallel cases append to it, and must not share its spare capacity.
	base := slices.Clip(compatEnv(newAWSDir(t), sim.AccessKeyID, sim.SecretAccessKey))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := base
			if tc.env != nil {
				env = tc.env(t, base)
			}
			var results [2]procResult
			var wg sync.WaitGroup
			for i, tool := range []string{"aws", "tokenbatch"} {
				args := tc.args(t, tool)
				wg.Add(1)
				go func() {
					defer wg.Done()
					if tool == "aws" {
						results[i] = runAWSv2(t, append([]string{"resync-mfa-device"}, args...), env, "")
					} else {
						results[i] = runTokenbatch(t, append([]string{"resync-mfa-device"}, args...), env, "")
					}
				}()
			}
			wg.Wait()
			aws, tb := results[0], results[1]
			wantTB := tc.code
			if tc.tbCode != 0 {
				wantTB = tc.tbCode
			}
			if aws.Code != tc.code {
				t.Errorf("aws: want exit %d, got %s", tc.code, aws)
			}
			if tb.Code != wantTB {
				t.Errorf("tokenbatch: want exit %d, got %s", wantTB, tb)
			}
			check := func(who, what, re, got string) {
				if re != "" && !regexp.MustCompile(re).MatchString(got) {
					t.Errorf("%s %s does not match %q:\n%s", who, what, re, got)
				}
			}
			check("aws", "stderr", tc.stderr, aws.Stderr)
			check("aws", "stdout", tc.stdout, aws.Stdout)
			tbErr, tbOut := tc.stderr, tc.stdout
			if tc.tbStderr != "" {
				tbErr = tc.tbStderr
			}
			if tc.tbStdout != "" {
				tbOut = tc.tbStdout
			}
			check("tokenbatch", "stderr", tbErr, tb.Stderr)
			check("tokenbatch", "stdout", tbOut, tb.Stdout)
			if tc.sameStderr && aws.Stderr != tb.Stderr {
				t.Errorf("stderr differs:\naws:\n%s\ntokenbatch:\n%s", aws.Stderr, tb.Stderr)
			}
			if tc.sameStdout && aws.Stdout != tb.Stdout && tc.name != "version" {
				t.Errorf("stdout differs:\naws:\n%s\ntokenbatch:\n%s", aws.Stdout, tb.Stdout)
			}
		})
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
