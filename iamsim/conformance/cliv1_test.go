package conformance

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// v1ServiceError is the AWS CLI v1's exit code for a service error (and for parameters
// its own validation refuses).
const v1ServiceError = 255

// TestAWSCLIv1: the AWS CLI v1 of the machine's python3 (python3 -m awscli) resyncs,
// lists with pagination, signs STS calls, reads AWS_ENDPOINT_URL, and reports
// InvalidAuthenticationCode, SignatureDoesNotMatch and Throttling with exit 255.
func TestAWSCLIv1(t *testing.T) {
	t.Parallel()
	f := loadFleet(t)
	s := startSim(t, "--clock", fixedTime().Format(time.RFC3339))
	throttled := startSim(t, "--rate", "0.01", "--burst", "1")
	aws := cliV1(t, s, accessKeyID, secretAccessKey)
	d := f.device(t, "drifted hardware device", drifted("hardware"))
	row := manifest(t, s.now())[d.SerialNumber]
	resync := []string{"iam", "resync-mfa-device", "--user-name", d.UserName, "--serial-number", d.SerialNumber,
		"--authentication-code1", row.Code1, "--authentication-code2", row.Code2}

	if r := aws.run(t, resync...); r.Code != 0 || strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("resync-mfa-device: want exit 0 and no output, got %s", r)
	}
	wantServiceError(t, "resync-mfa-device again", aws.run(t, resync...), v1ServiceError, "InvalidAuthenticationCode")
	if r := aws.run(t, "iam", "resync-mfa-device", "--user-name", d.UserName, "--serial-number", d.SerialNumber,
		"--authentication-code1", "12345", "--authentication-code2", row.Code2); r.Code != v1ServiceError || !strings.Contains(r.Stderr, "Invalid length for parameter AuthenticationCode1") {
		t.Errorf("resync-mfa-device with five digits: want exit %d from the cli's own validation, got %s", v1ServiceError, r)
	}

	var page struct {
		Users     []struct{ UserName string }
		NextToken string
	}
	aws.json(t, &page, "iam", "list-users", "--page-size", "4", "--max-items", "6")
	if len(page.Users) != 6 || page.NextToken == "" {
		t.Errorf("list-users --page-size 4 --max-items 6: got %d users and next token %q", len(page.Users), page.NextToken)
	}

	// AWS_ENDPOINT_URL instead of --endpoint-url (the CLI v2 of the machine ignores it).
	viaEnv := execute(t, awsEnv(t, accessKeyID, secretAccessKey, "AWS_ENDPOINT_URL="+s.URL), nil,
		append(slices.Clone(aws.argv), "sts", "get-caller-identity", "--output", "json")...)
	if viaEnv.Code != 0 || !strings.Contains(viaEnv.Stdout, f.AccountID) {
		t.Errorf("sts get-caller-identity with AWS_ENDPOINT_URL: %s", viaEnv)
	}

	wrong := cliV1(t, s, accessKeyID, "wrong"+secretAccessKey[5:])
	wantServiceError(t, "sts get-caller-identity with a wrong secret", wrong.run(t, "sts", "get-caller-identity"), v1ServiceError, "SignatureDoesNotMatch")

	limited := cliV1(t, throttled, accessKeyID, secretAccessKey)
	if r := limited.run(t, "iam", "list-account-aliases"); r.Code != 0 {
		t.Errorf("list-account-aliases on the rate-limited simulator: %s", r)
	}
	r := limited.run(t, "iam", "list-account-aliases")
	wantServiceError(t, "list-account-aliases past the rate limit", r, v1ServiceError, "Throttling")
	if !strings.Contains(r.Stderr, "Rate exceeded") {
		t.Errorf("list-account-aliases past the rate limit: stderr %q lacks \"Rate exceeded\"", r.Stderr)
	}

	t.Run("https with AWS_CA_BUNDLE", func(t *testing.T) {
		ca, cert, key := testCA(t)
		secure := startSim(t, "--tls-cert", cert, "--tls-key", key)
		var id struct{ Account string }
		cliV1(t, secure, accessKeyID, secretAccessKey, "AWS_CA_BUNDLE="+ca).json(t, &id, "sts", "get-caller-identity")
		if id.Account != f.AccountID {
			t.Errorf("get-caller-identity over https: account %q", id.Account)
		}
	})
}
