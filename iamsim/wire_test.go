package iamsim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
)

const listUsers = "Action=ListUsers&Version=2010-05-08"

func TestSigV4(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	now := time.Now()
	for _, tc := range []struct {
		name string
		r    raw
		code string
		http int
		msg  string
	}{
		{"signed POST", raw{body: listUsers}, "", 200, ""},
		{"signed GET", raw{method: "GET", query: listUsers}, "", 200, ""},
		{"presigned GET", raw{method: "GET", query: listUsers + "&X-Amz-Expires=300", presign: true}, "", 200, ""},
		{"sts scope", raw{body: "Action=GetCallerIdentity&Version=2011-06-15", service: "sts"}, "", 200, ""},
		{"unsigned", raw{body: listUsers, unsigned: true}, "MissingAuthenticationToken", 403, "Request is missing Authentication Token"},
		{"unknown key", raw{body: listUsers, key: "AKIAUNKNOWNEXAMPLE00", secret: "x"}, "InvalidClientTokenId", 403, "The security token included in the request is invalid."},
		{"wrong secret", raw{body: listUsers, key: adminKey, secret: "wrong"}, "SignatureDoesNotMatch", 403, "The request signature we calculated does not match"},
		{"tampered body", raw{body: listUsers, mutate: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("Action=ListUsers&Version=2010-05-08&MaxItems=1"))
			r.ContentLength = -1
		}}, "SignatureDoesNotMatch", 403, ""},
		{"tampered signed header", raw{body: listUsers, mutate: func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }}, "SignatureDoesNotMatch", 403, ""},
		{"expired", raw{body: listUsers, signTime: now.Add(-20 * time.Minute)}, "SignatureDoesNotMatch", 403, "Signature expired: "},
		{"not yet current", raw{body: listUsers, signTime: now.Add(20 * time.Minute)}, "SignatureDoesNotMatch", 403, "Signature not yet current: "},
		{"wrong service", raw{body: listUsers, service: "s3"}, "SignatureDoesNotMatch", 403, "Credential should be scoped to correct service"},
		{"IAM action on sts scope", raw{body: listUsers, service: "sts"}, "InvalidAction", 400, "Could not find operation ListUsers for version 2010-05-08"},
		{"malformed header", raw{body: listUsers, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam/aws4_request")
		}}, "IncompleteSignature", 400, "Authorization header requires 'Signature' parameter."},
		{"short credential", raw{body: listUsers, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101, SignedHeaders=host, Signature=00")
		}}, "IncompleteSignature", 400, ""},
		{"no date", raw{body: listUsers, mutate: func(r *http.Request) { r.Header.Del("X-Amz-Date") }}, "IncompleteSignature", 400, "X-Amz-Date"},
		{"denied action", raw{body: "Action=ResyncMFADevice&Version=2010-05-08&UserName=alice&SerialNumber=arn:aws:iam::123456789012:mfa/alice&AuthenticationCode1=123456&AuthenticationCode2=234567",
			key: "AKIAI44QH8DHBEXAMPLE", secret: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"}, "AccessDenied", 403,
			"User: arn:aws:iam::123456789012:user/auditor is not authorized to perform: iam:ResyncMFADevice on resource: user alice"},
		{"denied key may read", raw{body: listUsers, key: "AKIAI44QH8DHBEXAMPLE", secret: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"}, "", 200, ""},
		{"expired key", raw{body: listUsers, key: "AKIAIOLDAUTOEXAMPLE1", secret: "oldAutomationExpiredSecret/0/EXAMPLEKEY"}, "ExpiredToken", 403, "The security token included in the request is expired"},
		{"long-term key with a token", raw{body: listUsers, token: "bogus"}, "InvalidClientTokenId", 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.r.do(t, sim)
			if resp.status != tc.http || resp.code() != tc.code {
				t.Fatalf("HTTP %d %s (%s), want %d %s", resp.status, resp.code(), resp.message(), tc.http, tc.code)
			}
			if !strings.Contains(resp.message(), tc.msg) {
				t.Errorf("message %q does not contain %q", resp.message(), tc.msg)
			}
			if resp.header.Get("X-Amzn-Requestid") == "" || resp.header.Get("Date") == "" {
				t.Errorf("headers %v", resp.header)
			}
			ns := "https://iam.amazonaws.com/doc/2010-05-08/"
			if tc.r.service == "sts" {
				ns = "https://sts.amazonaws.com/doc/2011-06-15/"
			}
			if !strings.Contains(resp.body, `xmlns="`+ns+`"`) {
				t.Errorf("namespace: %s", resp.body)
			}
			if tc.code != "" && !strings.Contains(resp.body, "<RequestId>"+resp.header.Get("X-Amzn-Requestid")+"</RequestId>") {
				t.Errorf("request id not in body: %s", resp.body)
			}
		})
	}
}

func TestMalformedRequests(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{NoVerifySignature: true})
	big := "Action=ListUsers&Version=2010-05-08&Marker=" + strings.Repeat("a", iamsim.MaxBodyBytes)
	for _, tc := range []struct {
		name string
		r    raw
		code string
		http int
	}{
		{"unsigned ok with --no-verify-signature", raw{body: listUsers, unsigned: true}, "", 200},
		{"repeated parameter", raw{body: listUsers + "&UserName=a&UserName=b", unsigned: true}, "ValidationError", 400},
		{"repeated across query and body", raw{query: "Action=ListUsers", body: listUsers, unsigned: true}, "ValidationError", 400},
		{"broken escape", raw{body: listUsers + "&Marker=%zz", unsigned: true}, "MalformedQueryString", 400},
		{"broken escape in name", raw{body: listUsers + "&Mar%ker=1", unsigned: true}, "MalformedQueryString", 400},
		{"empty name", raw{body: listUsers + "&=1", unsigned: true}, "MalformedQueryString", 400},
		{"oversized", raw{body: big, unsigned: true}, "RequestEntityTooLarge", 413},
		{"json body", raw{body: `{"Action":"ListUsers"}`, contentType: "application/json", unsigned: true}, "UnsupportedMediaType", 415},
		{"bad content type", raw{body: listUsers, contentType: "a/b; ===", unsigned: true}, "MalformedQueryString", 400},
		{"no action", raw{body: "Version=2010-05-08", unsigned: true}, "MissingAction", 400},
		{"unknown action", raw{body: "Action=DeleteUser&Version=2010-05-08", unsigned: true}, "InvalidAction", 400},
		{"no version", raw{body: "Action=ListUsers", unsigned: true}, "InvalidAction", 400},
		{"odd characters", raw{body: "Action=GetUser&Version=2010-05-08&UserName=%00%FF%E2%82%AC<x>&", unsigned: true}, "ValidationError", 400},
		{"missing members", raw{body: "Action=ResyncMFADevice&Version=2010-05-08", unsigned: true}, "ValidationError", 400},
		{"DELETE", raw{method: "DELETE", unsigned: true}, "MethodNotAllowed", 405},
		{"empty body", raw{unsigned: true}, "MissingAction", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.r.do(t, sim)
			if resp.status != tc.http || resp.code() != tc.code {
				t.Fatalf("HTTP %d %s (%s), want %d %s", resp.status, resp.code(), resp.message(), tc.http, tc.code)
			}
			if tc.code != "" && !strings.HasPrefix(resp.body, `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">`) {
				t.Errorf("body %q", resp.body)
			}
		})
	}
	resp := raw{body: "Action=ResyncMFADevice&Version=2010-05-08", unsigned: true}.do(t, sim)
	want := "4 validation errors detected: Value null at 'userName' failed to satisfy constraint: Member must not be null; Value null at 'serialNumber'"
	if !strings.HasPrefix(resp.message(), want) {
		t.Errorf("message %q", resp.message())
	}
}

func TestThrottling(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{Rate: 0.5, Burst: 3})
	c := iam.NewFromConfig(sim.Config(t))
	var throttled error
	for i := 0; i < 6 && throttled == nil; i++ {
		_, throttled = c.ListUsers(ctx, &iam.ListUsersInput{})
	}
	if msg := wantErr(t, throttled, "Throttling", 400); msg != "Rate exceeded" {
		t.Errorf("message %q", msg)
	}
	// SetRate refills; STS counts against the same account bucket.
	sim.Server.SetRate(1000, 1)
	if _, err := sts.NewFromConfig(sim.Config(t)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	sim.Server.SetRate(0, 0)
	for i := 0; i < 5; i++ {
		if _, err := c.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFaults(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	c := iam.NewFromConfig(sim.Config(t))
	rows := manifest(t, sim, time.Time{})

	sim.Server.SetFaults(iamsim.Faults{ServiceFailure: 1})
	wantErr(t, resync(c, rows[vserial("alice")]), "ServiceFailure", 500)
	if st, _ := sim.Server.Device(vserial("alice")); st.HasLastStep {
		t.Error("ServiceFailure applied the call")
	}

	sim.Server.SetFaults(iamsim.Faults{Drop: 1, Actions: []string{"ResyncMFADevice"}})
	err := resync(c, rows[vserial("alice")])
	var ae smithy.APIError
	if err == nil || errors.As(err, &ae) {
		t.Fatalf("drop: %v", err)
	}
	if st, _ := sim.Server.Device(vserial("alice")); st.HasLastStep {
		t.Error("drop applied the call")
	}
	// Faults limited to one action leave the others alone.
	if _, err := c.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Fatal(err)
	}

	sim.Server.SetFaults(iamsim.Faults{LostReply: 1})
	err = resync(c, rows[vserial("alice")])
	if err == nil || errors.As(err, &ae) {
		t.Fatalf("lost reply: %v", err)
	}
	if st, _ := sim.Server.Device(vserial("alice")); !st.HasLastStep {
		t.Error("lost reply did not apply the call")
	}
	sim.Server.SetFaults(iamsim.Faults{})
	wantErr(t, resync(c, rows[vserial("alice")]), "InvalidAuthenticationCode", 403)

	var got []string
	for _, e := range sim.Ledger() {
		got = append(got, e.Outcome+"/"+e.Fault)
	}
	if want := "ServiceFailure/ dropped/drop ok/lost-reply InvalidAuthenticationCode/"; strings.Join(got, " ") != want {
		t.Errorf("ledger %v, want %s", got, want)
	}

	sim.Server.SetFaults(iamsim.Faults{LatencyMin: 30 * time.Millisecond, LatencyMax: 40 * time.Millisecond})
	start := time.Now()
	if _, err := c.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("latency %v", d)
	}
}

func TestTLSWithCABundle(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{TLS: true})
	if !strings.HasPrefix(sim.URL, "https://") || sim.CAFile == "" {
		t.Fatalf("url %s ca %q", sim.URL, sim.CAFile)
	}
	if _, err := sts.NewFromConfig(sim.Config(t)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	// Without the CA the client refuses the certificate.
	cfg := sim.Config(t)
	cfg.HTTPClient = awshttp.NewBuildableClient()
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
		t.Fatal("an unknown CA was accepted")
	}
	// Lost replies work over TLS too (HTTP/1.1, hijacked).
	sim.Server.SetFaults(iamsim.Faults{LostReply: 1})
	if _, err := iam.NewFromConfig(sim.Config(t)).ListUsers(ctx, &iam.ListUsersInput{}); err == nil {
		t.Fatal("lost reply answered")
	}
}

func TestRequestIDsAndDate(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	sim := simtest.Start(t, simtest.Options{Clock: start})
	c := iam.NewFromConfig(sim.Config(t))
	out, err := c.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatal(err)
	}
	id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if !ok || len(id) != 36 {
		t.Errorf("request id %q", id)
	}
	_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || len(re.ServiceRequestID()) != 36 || re.ServiceRequestID() == id {
		t.Errorf("error request id: %v", err)
	}
	// The Date header is the simulator's clock, and the SDK still signs acceptably.
	resp := raw{body: listUsers}.do(t, sim)
	d, err := http.ParseTime(resp.header.Get("Date"))
	if err != nil || d.Sub(start) < 0 || d.Sub(start) > time.Minute {
		t.Errorf("Date %q", resp.header.Get("Date"))
	}
	for i := 0; i < 2; i++ {
		if _, err := c.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
			t.Fatal(err)
		}
	}
	// A manifest at the simulator's time resyncs.
	if err := resync(c, manifest(t, sim, time.Time{})[vserial("dave")]); err != nil {
		t.Fatal(err)
	}
}

func TestLedgerEndpointAndFile(t *testing.T) {
	var file bytes.Buffer
	f := simtest.SampleFleet(t)
	srv, err := iamsim.NewServer(f, iamsim.Config{Ledger: &file})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	var m bytes.Buffer
	iamsim.WriteManifest(&m, f, time.Now())
	for _, l := range strings.Split(m.String(), "\n")[1:] {
		if p := strings.Split(l, ","); len(p) == 4 {
			rows[p[1]] = p
		}
	}
	r := rows[vserial("carol")]
	form := url.Values{"Action": {"ResyncMFADevice"}, "Version": {"2010-05-08"}, "UserName": {r[0]}, "SerialNumber": {r[1]},
		"AuthenticationCode1": {r[2]}, "AuthenticationCode2": {r[3]}}
	sim := simtest.Start(t, simtest.Options{Fleet: f})
	_ = sim
	req, _ := http.NewRequest("POST", "/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := &recorder{h: http.Header{}}
	noVerify, _ := iamsim.NewServer(f, iamsim.Config{Ledger: &file, NoVerifySignature: true})
	noVerify.ServeHTTP(rec, req)
	if rec.status != 200 {
		t.Fatalf("status %d %s", rec.status, rec.body.String())
	}
	_ = srv
	var e iamsim.LedgerEntry
	if err := json.Unmarshal(file.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if e.Action != "ResyncMFADevice" || e.UserName != "carol" || e.Outcome != "ok" || e.RequestID != rec.h.Get("X-Amzn-Requestid") {
		t.Errorf("entry %+v", e)
	}
	if strings.Contains(file.String(), r[2]) || strings.Contains(file.String(), r[3]) {
		t.Error("the ledger holds a code")
	}
	for _, k := range []string{`"action"`, `"user_name"`, `"serial_number"`, `"outcome"`, `"request_id"`, `"time"`} {
		if !strings.Contains(file.String(), k) {
			t.Errorf("ledger line lacks %s", k)
		}
	}
	get, _ := http.NewRequest("GET", "/_sim/ledger", nil)
	rec2 := &recorder{h: http.Header{}}
	noVerify.ServeHTTP(rec2, get)
	if rec2.body.String() != file.String() {
		t.Errorf("/_sim/ledger %q, file %q", rec2.body.String(), file.String())
	}
}

type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(s int)   { r.status = s }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}

func TestLogsHoldNoSecrets(t *testing.T) {
	var logs bytes.Buffer
	f := simtest.SampleFleet(t)
	srv, err := iamsim.NewServer(f, iamsim.Config{Log: &logs, NoVerifySignature: true})
	if err != nil {
		t.Fatal(err)
	}
	var m bytes.Buffer
	iamsim.WriteManifest(&m, f, time.Now())
	var secrets []string
	for _, l := range strings.Split(strings.TrimSpace(m.String()), "\n")[1:] {
		p := strings.Split(l, ",")
		secrets = append(secrets, p[2], p[3])
		form := url.Values{"Action": {"ResyncMFADevice"}, "Version": {"2010-05-08"}, "UserName": {p[0]}, "SerialNumber": {p[1]},
			"AuthenticationCode1": {p[2]}, "AuthenticationCode2": {p[3] + "9"}}
		req, _ := http.NewRequest("POST", "/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		srv.ServeHTTP(&recorder{h: http.Header{}}, req)
	}
	req, _ := http.NewRequest("POST", "/", strings.NewReader("Action=CreateVirtualMFADevice&Version=2010-05-08&VirtualMFADeviceName=x1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := &recorder{h: http.Header{}}
	srv.ServeHTTP(rec, req)
	_, after, _ := strings.Cut(rec.body.String(), "<Base32StringSeed>")
	seed, _, _ := strings.Cut(after, "<")
	secrets = append(secrets, seed, adminSec)
	for _, d := range f.Devices {
		secrets = append(secrets, d.Seed)
	}
	if logs.Len() == 0 {
		t.Fatal("no logs")
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs.String(), s) {
			t.Fatalf("the log holds a secret or code %q:\n%s", s, logs.String())
		}
	}
}
