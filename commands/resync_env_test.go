package commands

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
)

// boto3Resync is a resync through boto3 with the environment's configuration; it prints
// the error code it gets, or the exception.
const boto3Resync = `import sys, boto3, botocore
try:
    boto3.client("iam").resync_mfa_device(UserName=sys.argv[1], SerialNumber=sys.argv[2],
        AuthenticationCode1=sys.argv[3], AuthenticationCode2=sys.argv[4])
    print("ok")
except botocore.exceptions.ClientError as e:
    print("An error occurred (%s)" % e.response["Error"]["Code"])
    sys.exit(254)
except Exception as e:
    print("%s: %s" % (type(e).__name__, e))
    sys.exit(255)
`

// awsCLIv1 returns the AWS CLI v1 (the first aws on PATH, pyenv's), which, unlike the
// v2 2.9.19 of /usr/bin/aws, knows AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_IAM.
func awsCLIv1(t *testing.T) string {
	p := testenv.Tool(t, "aws")
	r := runProc(t, []string{p, "--version"}, nil, "")
	if !strings.HasPrefix(r.Stdout+r.Stderr, "aws-cli/1.") {
		testenv.Missing(t, "the first aws on PATH is not the AWS CLI v1: %s", r.Stdout+r.Stderr)
	}
	return p
}

// TestResyncEndpointEnv compares AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_IAM with the AWS
// CLI v1 and boto3. The codes are wrong on purpose: IAM's InvalidAuthenticationCode
// proves the request reached the simulator. The CLI v1 exits 255 for service errors and
// for a missing region, where tokenbatch exits 254 and 253 as the CLI v2 does.
func TestResyncEndpointEnv(t *testing.T) {
	v1 := awsCLIv1(t)
	py := testenv.Python(t, "boto3")
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	dead := "http://" + closedPort(t)
	script := filepath.Join(t.TempDir(), "resync.py")
	writeFile(t, script, boto3Resync)
	base := compatEnv(newAWSDir(t), sim.AccessKeyID, sim.SecretAccessKey)
	params := []string{"alice", "arn:aws:iam::123456789012:mfa/alice", "000000", "000001"}
	cliArgs := []string{"resync-mfa-device", "--user-name", params[0], "--serial-number", params[1],
		"--authentication-code1", params[2], "--authentication-code2", params[3]}
	invalid := `An error occurred \(InvalidAuthenticationCode\)`
	noRegion := `You must specify a region`

	cases := []struct {
		name             string
		env              []string
		noRegion         bool
		args             []string
		v1Code, tbCode   int
		want             string // regexp on stderr (CLIs) and stdout (boto3)
		boto3Code        int
		boto3Want        string
		skipBoto3Because string
	}{
		{name: "AWS_ENDPOINT_URL", env: []string{"AWS_ENDPOINT_URL=" + sim.URL},
			v1Code: 255, tbCode: 254, want: invalid, boto3Code: 254},
		{name: "AWS_ENDPOINT_URL_IAM wins over AWS_ENDPOINT_URL",
			env:    []string{"AWS_ENDPOINT_URL=" + dead, "AWS_ENDPOINT_URL_IAM=" + sim.URL},
			v1Code: 255, tbCode: 254, want: invalid, boto3Code: 254},
		{name: "--endpoint-url wins over AWS_ENDPOINT_URL_IAM",
			env: []string{"AWS_ENDPOINT_URL_IAM=" + sim.URL}, args: []string{"--endpoint-url", dead},
			v1Code: 255, tbCode: 255, want: `Could not connect to the endpoint URL: "` + regexp.QuoteMeta(dead) + `/"`,
			skipBoto3Because: "boto3 has no --endpoint-url"},
		{name: "AWS_ENDPOINT_URL_IAM without a region", env: []string{"AWS_ENDPOINT_URL_IAM=" + sim.URL}, noRegion: true,
			v1Code: 255, tbCode: 253, want: noRegion, boto3Code: 255, boto3Want: `NoRegionError: You must specify a region`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := append(append([]string{}, base...), tc.env...)
			if tc.noRegion {
				env = withoutRegion(env)
			}
			var v1r, tbr, pyr procResult
			var wg sync.WaitGroup
			wg.Add(3)
			go func() {
				defer wg.Done()
				v1r = runProc(t, append(append([]string{v1, "iam"}, cliArgs...), tc.args...), env, "")
			}()
			go func() {
				defer wg.Done()
				tbr = runTokenbatch(t, append(append([]string{}, cliArgs...), tc.args...), env, "")
			}()
			go func() {
				defer wg.Done()
				if tc.skipBoto3Because == "" {
					pyr = runProc(t, append([]string{py, script}, params...), env, "")
				}
			}()
			wg.Wait()
			re := regexp.MustCompile(tc.want)
			if v1r.Code != tc.v1Code || !re.MatchString(v1r.Stderr) {
				t.Errorf("aws v1: want exit %d and %q, got %s", tc.v1Code, tc.want, v1r)
			}
			if tbr.Code != tc.tbCode || !re.MatchString(tbr.Stderr) {
				t.Errorf("tokenbatch: want exit %d and %q, got %s", tc.tbCode, tc.want, tbr)
			}
			if tc.skipBoto3Because == "" {
				want := tc.want
				if tc.boto3Want != "" {
					want = tc.boto3Want
				}
				if pyr.Code != tc.boto3Code || !regexp.MustCompile(want).MatchString(pyr.Stdout) {
					t.Errorf("boto3: want exit %d and %q, got %s", tc.boto3Code, want, pyr)
				}
			}
		})
	}
}

// TestResyncMFAProfile resyncs with a profile that assumes a role requiring MFA: the code
// typed at the prompt (stdin here) goes to STS's AssumeRole, the resync is signed with
// the role's session.
func TestResyncMFAProfile(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	pool := newDevicePool(sim)
	dir := newAWSDir(t)
	const adminSerial = "arn:aws:iam::123456789012:mfa/mfa-admin"
	writeFile(t, filepath.Join(dir, "config"), "[profile admin]\nregion = us-east-1\n\n"+
		"[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/BatchOperator\nsource_profile = admin\n"+
		"mfa_serial = "+adminSerial+"\nregion = us-east-1\n")
	writeFile(t, filepath.Join(dir, "credentials"), "[admin]\naws_access_key_id = "+sim.AccessKeyID+
		"\naws_secret_access_key = "+sim.SecretAccessKey+"\n")
	env := withoutRegion(compatEnv(dir, "", ""))
	var envNoKeys []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
			envNoKeys = append(envNoKeys, kv)
		}
	}
	prompt := "Enter MFA code for " + adminSerial + ": "

	t.Run("code typed at the prompt", func(t *testing.T) {
		args, codes := validArgs(t, sim, pool)
		mfaCode := sim.TokenCode(t, adminSerial, sim.Now())
		r := runTokenbatch(t, append(append([]string{"resync-mfa-device"}, args...), "--profile", "ops", "--endpoint-url", sim.URL, "--debug"),
			envNoKeys, mfaCode+"\n")
		if r.Code != 0 {
			t.Fatalf("want exit 0, got %s", r)
		}
		if !strings.Contains(r.Stderr, prompt) {
			t.Errorf("no prompt %q in stderr:\n%s", prompt, r.Stderr)
		}
		if !strings.Contains(r.Stderr, "AssumeRole") || !strings.Contains(r.Stderr, "TokenCode=<redacted>") {
			t.Errorf("--debug does not show the redacted AssumeRole call:\n%s", r.Stderr)
		}
		for _, secret := range []string{mfaCode, codes[0], codes[1], sim.SecretAccessKey} {
			if strings.Contains(r.Stdout+r.Stderr, secret) {
				t.Errorf("output holds a secret %q:\n%s", secret, r)
			}
		}
	})
	t.Run("wrong code at the prompt", func(t *testing.T) {
		r := runTokenbatch(t, []string{"resync-mfa-device", "--user-name", "alice", "--serial-number", "arn:aws:iam::123456789012:mfa/alice",
			"--authentication-code1", "123456", "--authentication-code2", "234567", "--profile", "ops", "--endpoint-url", sim.URL},
			envNoKeys, "000000\n")
		if r.Code != 254 || !regexp.MustCompile(`\nAn error occurred \(AccessDenied\) when calling the AssumeRole operation`).MatchString(r.Stderr) {
			t.Errorf("want exit 254 and AssumeRole's AccessDenied, got %s", r)
		}
	})
	t.Run("nothing typed", func(t *testing.T) {
		r := runTokenbatch(t, []string{"resync-mfa-device", "--user-name", "alice", "--serial-number", "arn:aws:iam::123456789012:mfa/alice",
			"--authentication-code1", "123456", "--authentication-code2", "234567", "--profile", "ops", "--endpoint-url", sim.URL},
			envNoKeys, "")
		if r.Code != 255 || !strings.Contains(r.Stderr, "cannot read the MFA code") {
			t.Errorf("want exit 255 and a prompt error, got %s", r)
		}
	})
}

// TestResyncDebugRedacts checks that no authentication code, secret key or signature
// appears in any output with --debug, while the AWS CLI v2 (the reason for this) prints
// both codes.
func TestResyncDebugRedacts(t *testing.T) {
	testenv.Tool(t, testenv.AWSCLIv2)
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	pool := newDevicePool(sim)
	base := compatEnv(newAWSDir(t), sim.AccessKeyID, sim.SecretAccessKey)
	type run struct {
		name  string
		extra []string
		code  int
	}
	for _, rc := range []run{
		{"success", nil, 0},
		{"service error", []string{"--user-name", "nobody"}, 254},
		{"json output and query", []string{"--output", "json", "--query", "@"}, 0},
	} {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			args, codes := validArgs(t, sim, pool)
			args = append(append([]string{"resync-mfa-device"}, args...), "--endpoint-url", sim.URL, "--debug")
			r := runTokenbatch(t, append(args, rc.extra...), base, "")
			if r.Code != rc.code {
				t.Fatalf("want exit %d, got %s", rc.code, r)
			}
			all := r.Stdout + r.Stderr
			for _, secret := range []string{codes[0], codes[1], sim.SecretAccessKey} {
				if strings.Contains(all, secret) {
					t.Errorf("--debug output holds a secret %q:\n%s", secret, all)
				}
			}
			if regexp.MustCompile(`Signature=[0-9a-f]{16}`).MatchString(all) {
				t.Errorf("--debug output holds a request signature:\n%s", all)
			}
			for _, want := range []string{"Action=ResyncMFADevice", "AuthenticationCode1=<redacted>", "AuthenticationCode2=<redacted>", "Signature=<redacted>", "Response"} {
				if !strings.Contains(all, want) {
					t.Errorf("--debug output lacks %q:\n%s", want, all)
				}
			}
		})
	}
	t.Run("the AWS CLI v2 prints the codes", func(t *testing.T) {
		t.Parallel()
		args, codes := validArgs(t, sim, pool)
		r := runAWSv2(t, append(append([]string{"resync-mfa-device"}, args...), "--endpoint-url", sim.URL, "--debug"), base, "")
		if r.Code != 0 || !strings.Contains(r.Stderr, codes[0]) {
			t.Errorf("the AWS CLI v2's --debug no longer shows the codes (exit %d); update docs/aws-cli-compat.md", r.Code)
		}
	})
}

// TestResyncInterrupted sends SIGINT to tokenbatch and to the AWS CLI v2 while they wait
// for an endpoint that accepts the connection and never answers: both exit 130.
func TestResyncInterrupted(t *testing.T) {
	awsBin := testenv.Tool(t, testenv.AWSCLIv2)
	t.Parallel()
	for _, tool := range []string{"aws", "tokenbatch"} {
		t.Run(tool, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
			}()
			args := []string{"resync-mfa-device", "--user-name", "alice", "--serial-number", "arn:aws:iam::123456789012:mfa/alice",
				"--authentication-code1", "123456", "--authentication-code2", "234567", "--endpoint-url", "http://" + ln.Addr().String()}
			argv := tokenbatchArgv(args...)
			env := compatEnv(newAWSDir(t), "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
			if tool == "aws" {
				argv = append([]string{awsBin, "iam"}, args...)
			} else {
				env = append(env, "TOKENBATCH_HELPER_PROCESS=1")
			}
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case c := <-accepted:
				defer c.Close()
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("%s never connected", tool)
			}
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 130 {
				t.Errorf("%s: exit %d after SIGINT, want 130; stderr:\n%s", tool, code, stderr.String())
			}
		})
	}
}
