package commands

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tokenbatch/tokenbatch/executor"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
	"github.com/tokenbatch/tokenbatch/report"
)

// Codes of the echo tests: shaped like codes, and unlike anything else in the output
// (dates, ports, digests), so that a plain substring search finds any leak.
const echoCode1, echoCode2 = "402817", "739164"

// iamStub answers STS GetCallerIdentity for account (in partition) and IAM
// ResyncMFADevice with a ValidationError whose message echoes the submitted codes in
// every form a message might: IAM's "Value '...' at" (which awscfg.Redact knows), a
// standalone number, and codes run into other text (which only scrubbing against the
// request's own codes catches). With succeed, resyncs succeed instead.
type iamStub struct {
	*httptest.Server
	account, partition atomic.Value
	succeed            atomic.Bool
	resyncs            atomic.Int64
}

func newIAMStub(t *testing.T, account string) *iamStub {
	s := &iamStub{}
	s.account.Store(account)
	s.partition.Store("aws")
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("X-Amzn-Requestid", "req-echo")
		switch r.Form.Get("Action") {
		case "GetCallerIdentity":
			acct := s.account.Load().(string)
			fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>`+
				`<Arn>arn:%s:iam::%s:user/tester</Arn><UserId>AIDAEXAMPLE</UserId><Account>%s</Account></GetCallerIdentityResult>`+
				`<ResponseMetadata><RequestId>req-sts</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, s.partition.Load(), acct, acct)
		case "ResyncMFADevice":
			s.resyncs.Add(1)
			if s.succeed.Load() {
				fmt.Fprint(w, `<ResyncMFADeviceResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">`+
					`<ResponseMetadata><RequestId>req-ok</RequestId></ResponseMetadata></ResyncMFADeviceResponse>`)
				return
			}
			c1, c2 := r.Form.Get("AuthenticationCode1"), r.Form.Get("AuthenticationCode2")
			msg := fmt.Sprintf("2 validation errors detected: Value '%s' at 'authenticationCode1' failed to satisfy constraint; "+
				"codes %s,%s were refused (trace tok%s-x%sy)", c1, c1, c2, c1, c2)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>`+
				`<Code>ValidationError</Code><Message>%s</Message></Error><RequestId>req-echo</RequestId></ErrorResponse>`, msg)
		default:
			http.Error(w, "unexpected action", http.StatusBadRequest)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// assertNoEchoedCodes fails if either echo code appears anywhere in text, even inside
// other characters.
func assertNoEchoedCodes(t *testing.T, where, text string) {
	t.Helper()
	for _, c := range []string{echoCode1, echoCode2} {
		if i := strings.Index(text, c); i >= 0 {
			t.Errorf("%s holds code %s: ...%s...", where, c, text[max(0, i-100):min(len(text), i+40)])
		}
	}
}

// resync-mfa-device scrubs IAM's message against its own two codes, on stderr and in
// its --debug log.
func TestResyncScrubsEchoedCodes(t *testing.T) {
	testenv.AWSEnv(t, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	stub := newIAMStub(t, "123456789012")
	for _, debug := range []bool{false, true} {
		args := []string{"resync-mfa-device", "--endpoint-url", stub.URL, "--user-name", "alice",
			"--serial-number", "arn:aws:iam::123456789012:mfa/alice", "--authentication-code1", echoCode1,
			"--authentication-code2", echoCode2}
		if debug {
			args = append(args, "--debug")
		}
		code, out, errOut := mainOut(args...)
		if code != 254 {
			t.Fatalf("debug %v: exit %d, want 254\n%s", debug, code, errOut)
		}
		// AWS_MAX_ATTEMPTS=1 (testenv): the CLI's wording for a call that used its attempts.
		const want = "An error occurred (ValidationError) when calling the ResyncMFADevice operation (reached max retries: 0): 2 validation errors detected: " +
			"Value '<redacted>' at 'authenticationCode1' failed to satisfy constraint; codes [redacted],[redacted] were refused " +
			"(trace tok[redacted]-x[redacted]y)\n"
		if !strings.HasSuffix(errOut, "\n"+want) {
			t.Errorf("debug %v: stderr ends\n%s\nwant\n%s", debug, errOut[max(0, len(errOut)-len(want)-20):], want)
		}
		if debug && !strings.Contains(errOut, "<Code>ValidationError</Code>") {
			t.Errorf("--debug did not log the response body:\n%s", errOut)
		}
		assertNoEchoedCodes(t, fmt.Sprintf("stdout and stderr (debug %v)", debug), out+errOut)
	}
}

func writeEchoManifest(t *testing.T, rows ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.csv")
	body := "user_name,serial_number,authentication_code1,authentication_code2\n" + strings.Join(rows, "\n") + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// planOffline saves an offline plan of manifest and returns its path.
func planOffline(t *testing.T, manifest string) string {
	t.Helper()
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if code, _, errOut := mainOut("plan", "--offline", "--manifest", manifest, "--out", planFile); code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	return planFile
}

// IAM's error message echoes the codes: apply --debug keeps them out of the reports,
// the journal, stdout and stderr (its logs and the SDK's request/response log).
func TestApplyScrubsEchoedCodes(t *testing.T) {
	testenv.AWSEnv(t, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	stub := newIAMStub(t, "123456789012")
	planFile := planOffline(t, writeEchoManifest(t, "alice,arn:aws:iam::123456789012:mfa/alice,"+echoCode1+","+echoCode2))
	dir := filepath.Join(t.TempDir(), "r")
	code, out, errOut := mainOut("apply", planFile, "--endpoint-url", stub.URL, "--debug", "--log-format", "json", "--report-dir", dir)
	if code != ExitIncomplete {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitIncomplete, out, errOut)
	}
	if stub.resyncs.Load() != 1 {
		t.Fatalf("%d resyncs sent, want 1", stub.resyncs.Load())
	}
	// The debug log must have had the codes to scrub: the request and IAM's answer.
	for _, want := range []string{"Action=ResyncMFADevice", "AuthenticationCode1=<redacted>", "AuthenticationCode2=<redacted>",
		"<Code>ValidationError</Code>", "codes [redacted],[redacted] were refused"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("--debug output lacks %q", want)
		}
	}
	rows := readReport(t, dir)
	const wantMsg = "2 validation errors detected: Value '[redacted]' at 'authenticationCode1' failed to satisfy constraint; " +
		"codes [redacted],[redacted] were refused (trace tok[redacted]-x[redacted]y)"
	if len(rows) != 1 || rows[0].Status != report.Failed || rows[0].ErrorCode != "ValidationError" || rows[0].ErrorMessage != wantMsg {
		t.Errorf("report rows %+v, want one failed ValidationError with %q", rows, wantMsg)
	}
	for _, name := range []string{report.CSVName, report.JSONLName, report.JUnitName, executor.JournalName} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		assertNoEchoedCodes(t, name, string(data))
	}
	assertNoEchoedCodes(t, "stdout", out)
	assertNoEchoedCodes(t, "stderr", errOut)
}

// An offline plan is for the account and partition its rows name: apply with
// credentials of another refuses (253) and sends nothing.
func TestApplyRefusesOtherAccount(t *testing.T) {
	testenv.AWSEnv(t, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	stub := newIAMStub(t, "123456789012")
	for _, tc := range []struct{ name, serial, want string }{
		{"account", "arn:aws:iam::111111111111:mfa/alice",
			"the plan is for account 111111111111, but the credentials are for account 123456789012; nothing was sent"},
		{"partition", "arn:aws-cn:iam::123456789012:mfa/alice",
			"the plan is for partition aws-cn, but the credentials are for partition aws; nothing was sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			planFile := planOffline(t, writeEchoManifest(t, "alice,"+tc.serial+",123456,654321"))
			code, _, errOut := mainOut("apply", planFile, "--endpoint-url", stub.URL, "--report-dir", filepath.Join(t.TempDir(), "r"))
			if code != ExitConfig || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, ExitConfig, tc.want, errOut)
			}
			if n := stub.resyncs.Load(); n != 0 {
				t.Errorf("%d resyncs sent", n)
			}
		})
	}
}

// A plan whose rows name no account is bound to the credentials' account when applied:
// the journal records it, and a resume with credentials of another account is refused.
func TestApplyBindsAccountlessPlan(t *testing.T) {
	testenv.AWSEnv(t, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	stub := newIAMStub(t, "123456789012")
	stub.succeed.Store(true)
	planFile := planOffline(t, writeEchoManifest(t, "bob,GAHT12345678,123456,654321"))
	dir := filepath.Join(t.TempDir(), "r")
	code, out, errOut := mainOut("apply", planFile, "--endpoint-url", stub.URL, "--report-dir", dir)
	if code != 0 || stub.resyncs.Load() != 1 {
		t.Fatalf("exit %d, %d resyncs\n%s%s", code, stub.resyncs.Load(), out, errOut)
	}
	if !strings.Contains(errOut, "the plan names no account") {
		t.Errorf("binding not logged:\n%s", errOut)
	}
	data, err := os.ReadFile(filepath.Join(dir, executor.JournalName))
	if err != nil {
		t.Fatal(err)
	}
	var head struct {
		AccountID string `json:"account_id"`
		Partition string `json:"partition"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(string(data), "\n", 2)[0]), &head); err != nil ||
		head.AccountID != "123456789012" || head.Partition != "aws" {
		t.Errorf("journal header %+v (%v), want account 123456789012 in aws", head, err)
	}
	if rows := readReport(t, dir); len(rows) != 1 || rows[0].AccountID != "123456789012" {
		t.Errorf("report rows %+v", rows)
	}

	stub.account.Store("111111111111")
	code, _, errOut = mainOut("apply", planFile, "--endpoint-url", stub.URL, "--resume", dir)
	if code != ExitUsage || !strings.Contains(errOut, "account 123456789012, not 111111111111") {
		t.Errorf("resume with another account: exit %d\n%s", code, errOut)
	}
	if stub.resyncs.Load() != 1 {
		t.Errorf("%d resyncs sent, want still 1", stub.resyncs.Load())
	}
}
