package iamsim_test

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"

	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
)

// FuzzParseRequest feeds arbitrary query strings, content types and bodies to the
// request parser and to the whole handler: nothing may panic, every answer must be
// well-formed XML, and no answer may be a bare 500.
func FuzzParseRequest(f *testing.F) {
	f.Add("", "application/x-www-form-urlencoded", []byte(listUsers))
	f.Add("Action=GetUser&Version=2010-05-08&UserName=alice", "", []byte(nil))
	f.Add("", "application/x-www-form-urlencoded; charset=utf-8", []byte("Action=ResyncMFADevice&Version=2010-05-08&UserName=bob&SerialNumber=arn:aws:iam::123456789012:mfa/bob&AuthenticationCode1=123456&AuthenticationCode2=654321"))
	f.Add("Action=ListVirtualMFADevices&Version=2010-05-08&Marker=%zz", "text/plain", []byte("a=%"))
	f.Add("", "application/x-www-form-urlencoded", []byte("Action=ListUsers&Action=ListUsers"))
	f.Add("X-Amz-Signature=1&X-Amz-Credential=a/b/c/iam/aws4_request", "", []byte("Action=CreateVirtualMFADevice&Version=2010-05-08&VirtualMFADeviceName=%E2%82%AC&Path=/x/"))
	f.Add("", "", []byte("Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/BatchOperator&RoleSessionName=x&TokenCode=\x00"))
	fleet := simtest.SampleFleet(f)
	srv, err := iamsim.NewServer(fleet, iamsim.Config{NoVerifySignature: true})
	if err != nil {
		f.Fatal(err)
	}
	verifying, err := iamsim.NewServer(fleet, iamsim.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query, contentType string, body []byte) {
		p, err := iamsim.ParseParams(query, contentType, body)
		if err == nil && p == nil {
			t.Fatal("no params and no error")
		}
		for _, s := range []*iamsim.Server{srv, verifying} {
			req, err := http.NewRequest("POST", "http://127.0.0.1/", bytes.NewReader(body))
			if err != nil {
				return
			}
			req.URL.RawQuery = query
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+query)
			rec := &recorder{h: http.Header{}}
			s.ServeHTTP(rec, req)
			out := rec.body.String()
			if rec.status == 500 && !strings.Contains(out, "<Code>ServiceFailure</Code>") {
				t.Fatalf("bare 500: %q", out)
			}
			if rec.status == 0 || !strings.HasPrefix(out, "<") {
				t.Fatalf("status %d body %q", rec.status, out)
			}
			dec := xml.NewDecoder(strings.NewReader(out))
			for {
				_, err := dec.Token()
				if err != nil {
					if err.Error() != "EOF" {
						t.Fatalf("bad XML (%v): %q", err, out)
					}
					break
				}
			}
		}
	})
}
