package iamsim_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
)

const (
	acct      = "123456789012"
	adminKey  = "AKIAIOSFODNN7EXAMPLE"
	adminSec  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	bobKey    = "AKIAIBOBDRIFTEXAMPLE"
	bobSecret = "bobDriftedTokenExampleSecret/EXAMPLEKEY"
)

func vserial(name string) string { return "arn:aws:iam::" + acct + ":mfa/" + name }

// row is one manifest line.
type row struct{ user, serial, code1, code2 string }

func manifest(t *testing.T, sim *simtest.Sim, at time.Time) map[string]row {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(sim.Manifest(t, at))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "user_name,serial_number,authentication_code1,authentication_code2" {
		t.Fatalf("manifest header %q", recs[0])
	}
	out := map[string]row{}
	for _, r := range recs[1:] {
		out[r[1]] = row{r[0], r[1], r[2], r[3]}
	}
	return out
}

// apiErr returns the service error's code, message and HTTP status.
func apiErr(t *testing.T, err error) (code, msg string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("want a service error, got success")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want a service error, got %v", err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), ae.ErrorMessage(), status
}

func wantErr(t *testing.T, err error, code string, status int) string {
	t.Helper()
	c, m, s := apiErr(t, err)
	if c != code || s != status {
		t.Fatalf("got %s (HTTP %d): %s; want %s (HTTP %d)", c, s, m, code, status)
	}
	return m
}

// raw sends a hand-made request; sign, when set, signs it with the SDK's signer (the
// test oracle) at signTime for service.
type raw struct {
	method, query, body, contentType string
	key, secret, token               string
	service                          string
	signTime                         time.Time
	unsigned                         bool
	presign                          bool
	mutate                           func(*http.Request)
}

type rawResp struct {
	status int
	header http.Header
	body   string
}

func (r raw) do(t *testing.T, sim *simtest.Sim) rawResp {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.contentType == "" && r.method == http.MethodPost {
		r.contentType = "application/x-www-form-urlencoded; charset=utf-8"
	}
	u := sim.URL + "/"
	if r.query != "" {
		u += "?" + r.query
	}
	req, err := http.NewRequest(r.method, u, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if !r.unsigned {
		if r.key == "" {
			r.key, r.secret = adminKey, adminSec
		}
		if r.service == "" {
			r.service = "iam"
		}
		if r.signTime.IsZero() {
			r.signTime = time.Now()
		}
		sum := sha256.Sum256([]byte(r.body))
		creds := aws.Credentials{AccessKeyID: r.key, SecretAccessKey: r.secret, SessionToken: r.token}
		if r.presign {
			signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), r.service, "us-east-1", r.signTime)
			if err != nil {
				t.Fatal(err)
			}
			req, _ = http.NewRequest(r.method, signed, nil)
		} else if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), r.service, "us-east-1", r.signTime); err != nil {
			t.Fatal(err)
		}
	}
	if r.mutate != nil {
		r.mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResp{resp.StatusCode, resp.Header, string(b)}
}

// errorCode pulls <Code> out of an ErrorResponse.
func (r rawResp) code() string {
	_, after, ok := strings.Cut(r.body, "<Code>")
	if !ok {
		return ""
	}
	c, _, _ := strings.Cut(after, "</Code>")
	return c
}

func (r rawResp) message() string {
	_, after, ok := strings.Cut(r.body, "<Message>")
	if !ok {
		return ""
	}
	c, _, _ := strings.Cut(after, "</Message>")
	return c
}
