package conformance

import (
	"os"
	"strings"
	"testing"
)

// TestAWSCLIv2SignatureRejected: requests signed with a wrong secret, by an unknown
// key, with a bogus session token, or not signed at all get IAM's and STS's errors;
// --no-verify-signature lets them through.
func TestAWSCLIv2SignatureRejected(t *testing.T) {
	t.Parallel()
	s := startSim(t)
	cases := []struct {
		name        string
		key, secret string
		extraEnv    []string
		args        []string
		code        string
	}{
		{"wrong secret", accessKeyID, "wrong" + secretAccessKey[5:], nil, []string{"iam", "list-users"}, "SignatureDoesNotMatch"},
		{"wrong secret, sts", accessKeyID, "wrong" + secretAccessKey[5:], nil, []string{"sts", "get-caller-identity"}, "SignatureDoesNotMatch"},
		{"unknown key", "AKIAUNKNOWNEXAMPLE00", secretAccessKey, nil, []string{"iam", "list-users"}, "InvalidClientTokenId"},
		{"bogus session token", accessKeyID, secretAccessKey, []string{"AWS_SESSION_TOKEN=bogus"}, []string{"iam", "get-user"}, "InvalidClientTokenId"},
		{"unsigned", accessKeyID, secretAccessKey, nil, []string{"iam", "list-users", "--no-sign-request"}, "MissingAuthenticationToken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantServiceError(t, tc.name, cliV2(t, s, tc.key, tc.secret, tc.extraEnv...).run(t, tc.args...), v2ServiceError, tc.code)
		})
	}
	t.Run("no-verify-signature", func(t *testing.T) {
		lax := startSim(t, "--no-verify-signature")
		var out struct{ Users []struct{ UserName string } }
		cliV2(t, lax, accessKeyID, "wrong"+secretAccessKey[5:]).json(t, &out, "iam", "list-users", "--max-items", "1")
		if len(out.Users) != 1 {
			t.Errorf("list-users signed with a wrong secret under --no-verify-signature: got %d users, want 1", len(out.Users))
		}
	})
}

// TestAWSCLIv2HTTPS: the simulator serves HTTPS with a given certificate or a
// self-signed one; the CLI accepts it with the CA bundle (--ca-bundle or
// AWS_CA_BUNDLE) and refuses it without.
func TestAWSCLIv2HTTPS(t *testing.T) {
	t.Parallel()
	ca, cert, key := testCA(t)
	s := startSim(t, "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("with --tls-cert the simulator listens on %s, want https", s.URL)
	}
	aws := cliV2(t, s, accessKeyID, secretAccessKey)
	var id struct{ Account string }
	aws.json(t, &id, "sts", "get-caller-identity", "--ca-bundle", ca)
	if id.Account == "" {
		t.Errorf("get-caller-identity over https with --ca-bundle: no account")
	}
	r := aws.run(t, "sts", "get-caller-identity")
	if r.Code == 0 || !strings.Contains(r.Stderr, "SSL") {
		t.Errorf("get-caller-identity over https without the ca bundle: want an ssl failure, got %s", r)
	}
	withEnv := cliV2(t, s, accessKeyID, secretAccessKey, "AWS_CA_BUNDLE="+ca)
	withEnv.json(t, &id, "sts", "get-caller-identity")

	t.Run("self-signed", func(t *testing.T) {
		caOut := t.TempDir() + "/ca.pem"
		ss := startSim(t, "--tls-self-signed", "--tls-cert-out", caOut)
		if !strings.HasPrefix(ss.URL, "https://") {
			t.Fatalf("with --tls-self-signed the simulator listens on %s, want https", ss.URL)
		}
		if _, err := os.Stat(caOut); err != nil {
			t.Fatalf("--tls-cert-out: %v", err)
		}
		var out struct{ AccountAliases []string }
		cliV2(t, ss, accessKeyID, secretAccessKey).json(t, &out, "iam", "list-account-aliases", "--ca-bundle", caOut)
		if len(out.AccountAliases) != 1 {
			t.Errorf("list-account-aliases over self-signed https: got %q", out.AccountAliases)
		}
	})
}
