package awscfg

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/smithy-go/logging"
)

func TestRedact(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"form body",
			"Action=ResyncMFADevice&AuthenticationCode1=123456&AuthenticationCode2=654321&UserName=alice",
			"Action=ResyncMFADevice&AuthenticationCode1=<redacted>&AuthenticationCode2=<redacted>&UserName=alice"},
		{"query string of a GET",
			"GET /?Action=AssumeRole&TokenCode=123456&SerialNumber=arn HTTP/1.1",
			"GET /?Action=AssumeRole&TokenCode=<redacted>&SerialNumber=arn HTTP/1.1"},
		{"XML secrets",
			"<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>abc/def+ghi</SecretAccessKey><SessionToken>FQo\nGZ==</SessionToken></Credentials>",
			"<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey><redacted></SecretAccessKey><SessionToken><redacted></SessionToken></Credentials>"},
		{"XML seed and QR code",
			"<Base32StringSeed>SkFCQ0RFRkc=</Base32StringSeed><QRCodePNG>iVBORw0KGgo=</QRCodePNG>",
			"<Base32StringSeed><redacted></Base32StringSeed><QRCodePNG><redacted></QRCodePNG>"},
		{"JSON",
			`{"UserName": "alice", "AuthenticationCode1": "123456", "secretAccessKey":"x\"y", "sessionToken" : "t"}`,
			`{"UserName": "alice", "AuthenticationCode1": "<redacted>", "secretAccessKey":"<redacted>", "sessionToken" : "<redacted>"}`},
		{"signature",
			"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123",
			"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=<redacted>"},
		{"presigned signature", "X-Amz-Signature=abcdef&X-Amz-Security-Token=tok", "X-Amz-Signature=<redacted>&X-Amz-Security-Token=<redacted>"},
		{"security token header", "Host: x\nX-Amz-Security-Token: FwoGZXIvYXdzE\nX-Amz-Date: 1", "Host: x\nX-Amz-Security-Token: <redacted>\nX-Amz-Date: 1"},
		{"validation message echoing a code",
			"1 validation error detected: Value '1234567' at 'authenticationCode1' failed to satisfy constraint",
			"1 validation error detected: Value '<redacted>' at 'authenticationCode1' failed to satisfy constraint"},
		{"nothing secret", "UserName=alice&SerialNumber=GAHT12345678", "UserName=alice&SerialNumber=GAHT12345678"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestDebugLoggerRedacts(t *testing.T) {
	var b bytes.Buffer
	l := NewDebugLogger(&b)
	l.Logf(logging.Debug, "Request\n%s", "Action=EnableMFADevice&AuthenticationCode1=111111&AuthenticationCode2=222222")
	out := b.String()
	if strings.Contains(out, "111111") || strings.Contains(out, "222222") {
		t.Errorf("debug log holds a code: %s", out)
	}
	if !strings.Contains(out, "DEBUG") || !strings.Contains(out, "AuthenticationCode1=<redacted>") {
		t.Errorf("unexpected debug line: %s", out)
	}
}
