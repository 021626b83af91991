package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// sdkConfig is an aws.Config for a simulator that reads no environment and no files
// (so it is safe in parallel tests) and makes one attempt per call.
func sdkConfig(s *sim, key, secret string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   s.HTTP,
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// TestGoSDKRequestIDs: aws-sdk-go-v2 sees the simulator's request ids, on successes
// (from the x-amzn-RequestId header) and on errors (from the body), and they are the
// ledger's. Errors map to the SDK's typed exceptions with their HTTP status.
func TestGoSDKRequestIDs(t *testing.T) {
	t.Parallel()
	f := loadFleet(t)
	ledgerFile := t.TempDir() + "/ledger.jsonl"
	s := startSim(t, "--clock", fixedTime().Format(time.RFC3339), "--ledger", ledgerFile)
	ctx := context.Background()
	client := iam.NewFromConfig(sdkConfig(s, accessKeyID, secretAccessKey))
	d := f.device(t, "drifted virtual device", drifted("virtual"))
	row := manifest(t, s.now())[d.SerialNumber]
	in := &iam.ResyncMFADeviceInput{UserName: aws.String(d.UserName), SerialNumber: aws.String(d.SerialNumber),
		AuthenticationCode1: aws.String(row.Code1), AuthenticationCode2: aws.String(row.Code2)}

	out, err := client.ResyncMFADevice(ctx, in)
	if err != nil {
		t.Fatalf("ResyncMFADevice: %v", err)
	}
	okID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)

	_, err = client.ResyncMFADevice(ctx, in)
	var invalid *iamtypes.InvalidAuthenticationCodeException
	var respErr *awshttp.ResponseError
	if !errors.As(err, &invalid) || !errors.As(err, &respErr) || respErr.HTTPStatusCode() != 403 {
		t.Fatalf("ResyncMFADevice again: want InvalidAuthenticationCodeException with http 403, got %v", err)
	}
	errID := respErr.ServiceRequestID()

	entries := ledgerFor(s.ledger(t), d.SerialNumber)
	if len(entries) != 2 {
		t.Fatalf("ledger: want 2 entries for %s, got %+v", d.SerialNumber, entries)
	}
	file, err := os.ReadFile(ledgerFile)
	if err != nil {
		t.Fatal(err)
	}
	if fromFile := ledgerFor(parseLedger(t, file), d.SerialNumber); !slices.Equal(fromFile, entries) {
		t.Errorf("--ledger file holds %+v, GET /_sim/ledger %+v", fromFile, entries)
	}
	if okID == "" || okID != entries[0].RequestID {
		t.Errorf("request id of the success: the sdk saw %q, the ledger has %q", okID, entries[0].RequestID)
	}
	if errID == "" || errID != entries[1].RequestID {
		t.Errorf("request id of the error: the sdk saw %q, the ledger has %q", errID, entries[1].RequestID)
	}

	users, err := client.ListUsers(ctx, &iam.ListUsersInput{})
	if id, _ := awsmiddleware.GetRequestIDMetadata(users.ResultMetadata); err != nil || id == "" {
		t.Errorf("ListUsers: request id %q, err %v", id, err)
	}

	typed := []struct {
		name string
		call func() error
		as   func(error) bool
		code int
	}{
		{"NoSuchEntity", func() error {
			_, err := client.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("no-such-user")})
			return err
		}, func(err error) bool { var e *iamtypes.NoSuchEntityException; return errors.As(err, &e) }, 404},
		{"EntityAlreadyExists", func() error {
			_, err := client.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("spare-1")})
			return err
		}, func(err error) bool { var e *iamtypes.EntityAlreadyExistsException; return errors.As(err, &e) }, 409},
		{"DeleteConflict", func() error {
			_, err := client.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(d.SerialNumber)})
			return err
		}, func(err error) bool { var e *iamtypes.DeleteConflictException; return errors.As(err, &e) }, 409},
	}
	for _, tc := range typed {
		err := tc.call()
		if !tc.as(err) || !errors.As(err, &respErr) || respErr.HTTPStatusCode() != tc.code || respErr.ServiceRequestID() == "" {
			t.Errorf("%s: want the sdk's typed exception, http %d and a request id, got %v", tc.name, tc.code, err)
		}
	}

	id, err := sts.NewFromConfig(sdkConfig(s, accessKeyID, secretAccessKey)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != f.AccountID {
		t.Errorf("sts GetCallerIdentity: %v", err)
	} else if rid, _ := awsmiddleware.GetRequestIDMetadata(id.ResultMetadata); rid == "" {
		t.Errorf("sts GetCallerIdentity: no request id")
	}
}

// TestGoSDKThrottlingAndFaults: the Go SDK sees Throttling as a throttle error and its
// standard retryer gets through; ServiceFailure maps to its typed exception; a lost
// reply is a transport error although the ledger shows the call applied, and a dropped
// call is not applied.
func TestGoSDKThrottlingAndFaults(t *testing.T) {
	t.Parallel()
	f := loadFleet(t)
	ctx := context.Background()

	t.Run("throttling", func(t *testing.T) {
		s := startSim(t, "--rate", "2", "--burst", "1")
		once := iam.NewFromConfig(sdkConfig(s, accessKeyID, secretAccessKey))
		throttled := 0
		for i := 0; i < 4; i++ {
			_, err := once.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
			var ae smithy.APIError
			if errors.As(err, &ae) && ae.ErrorCode() == "Throttling" {
				throttled++
				if ae.ErrorMessage() != "Rate exceeded" || !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
					t.Errorf("throttling: message %q; want \"Rate exceeded\", and an error the sdk's retryer takes for a throttle", ae.ErrorMessage())
				}
			} else if err != nil {
				t.Errorf("call %d: want success or Throttling, got %v", i, err)
			}
		}
		if throttled == 0 {
			t.Errorf("four calls at once past a burst of one: none throttled")
		}
		cfg := sdkConfig(s, accessKeyID, secretAccessKey)
		cfg.Retryer = func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 10; o.MaxBackoff = time.Second })
		}
		if _, err := iam.NewFromConfig(cfg).ListAccountAliases(ctx, &iam.ListAccountAliasesInput{}); err != nil {
			t.Errorf("with the standard retryer: %v", err)
		}
	})

	t.Run("latency", func(t *testing.T) {
		s := startSim(t, "--latency", "150ms-200ms")
		client := sts.NewFromConfig(sdkConfig(s, accessKeyID, secretAccessKey))
		start := time.Now()
		if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 150*time.Millisecond {
			t.Errorf("with --latency 150ms-200ms a call took %s", took)
		}
	})

	d := f.device(t, "drifted virtual device", drifted("virtual"))
	resync := func(t *testing.T, s *sim) error {
		row := manifest(t, s.now())[d.SerialNumber]
		_, err := iam.NewFromConfig(sdkConfig(s, accessKeyID, secretAccessKey)).ResyncMFADevice(ctx, &iam.ResyncMFADeviceInput{
			UserName: aws.String(d.UserName), SerialNumber: aws.String(d.SerialNumber),
			AuthenticationCode1: aws.String(row.Code1), AuthenticationCode2: aws.String(row.Code2)})
		return err
	}
	faults := []struct {
		flag, outcome, fault string
		check                func(error) bool
	}{
		{"--fault-service-failure", "ServiceFailure", "", func(err error) bool {
			var e *iamtypes.ServiceFailureException
			var re *awshttp.ResponseError
			return errors.As(err, &e) && errors.As(err, &re) && re.HTTPStatusCode() == 500
		}},
		{"--fault-lost-reply", "ok", "lost-reply", isTransportError},
		{"--fault-drop", "dropped", "drop", isTransportError},
	}
	for _, tc := range faults {
		t.Run(tc.flag, func(t *testing.T) {
			s := startSim(t, tc.flag, "1")
			err := resync(t, s)
			if !tc.check(err) {
				t.Errorf("resync under %s 1: unexpected error %v", tc.flag, err)
			}
			e := ledgerFor(s.ledger(t), d.SerialNumber)
			if len(e) != 1 || e[0].Outcome != tc.outcome || e[0].Fault != tc.fault {
				t.Errorf("ledger under %s 1: want one entry with outcome %q and fault %q, got %+v", tc.flag, tc.outcome, tc.fault, e)
			}
		})
	}
}

// isTransportError: the call got no HTTP answer at all (the SDK wraps the failed send
// in a ResponseError without a response).
func isTransportError(err error) bool {
	var re *awshttp.ResponseError
	var ae smithy.APIError
	return err != nil && !errors.As(err, &ae) && (!errors.As(err, &re) || re.HTTPStatusCode() == 0)
}

// TestQueryOverGET: IAM also takes the Query protocol as a signed GET, which no SDK
// sends; sign one with the SDK's signer and read IAM's XML.
func TestQueryOverGET(t *testing.T) {
	t.Parallel()
	s := startSim(t)
	q := url.Values{"Action": {"ListUsers"}, "Version": {"2010-05-08"}, "MaxItems": {"2"}}
	req, err := http.NewRequest(http.MethodGet, s.URL+"/?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(empty[:]), "iam", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc struct {
		XMLName xml.Name
		Users   []string `xml:"ListUsersResult>Users>member>UserName"`
		Trunc   bool     `xml:"ListUsersResult>IsTruncated"`
		ReqID   string   `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("signed GET ListUsers: http %d, %v: %s", resp.StatusCode, err, body)
	}
	if doc.XMLName.Local != "ListUsersResponse" || doc.XMLName.Space != "https://iam.amazonaws.com/doc/2010-05-08/" {
		t.Errorf("signed GET ListUsers: root element %v, want ListUsersResponse in IAM's namespace", doc.XMLName)
	}
	if len(doc.Users) != 2 || !doc.Trunc || doc.ReqID == "" || doc.ReqID != resp.Header.Get("x-amzn-RequestId") {
		t.Errorf("signed GET ListUsers: users %q, truncated %v, request id %q (header %q)", doc.Users, doc.Trunc, doc.ReqID, resp.Header.Get("x-amzn-RequestId"))
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		t.Errorf("signed GET ListUsers: content type %q, want text/xml", resp.Header.Get("Content-Type"))
	}
}

func userOrErr(u *iam.GetUserOutput, err error) any {
	if err != nil {
		return err
	}
	return fmt.Sprintf("user %q arn %q", aws.ToString(u.User.UserName), aws.ToString(u.User.Arn))
}

// TestGoSDKExtraAccessKey: a key added with --access-key-id/--secret-access-key belongs,
// as the flag's help says, to the user of the fleet's first key: the caller is that user.
func TestGoSDKExtraAccessKey(t *testing.T) {
	t.Parallel()
	f := loadFleet(t)
	ctx := context.Background()
	const id, secret = "AKIACONFORMANCEEXTRA", "conformance/extra/secret/EXAMPLEKEY"
	s := startSim(t, "--access-key-id", id, "--secret-access-key", secret)
	out, err := sts.NewFromConfig(sdkConfig(s, id, secret)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the key of --access-key-id: %v", err)
	}
	if !strings.HasSuffix(aws.ToString(out.Arn), ":user/"+f.admin(t)) || aws.ToString(out.UserId) == "" {
		t.Errorf("GetCallerIdentity with the key of --access-key-id: arn %q, user id %q; want the first key's user %s (the flag's documented owner)",
			aws.ToString(out.Arn), aws.ToString(out.UserId), f.admin(t))
	}
	u, err := iam.NewFromConfig(sdkConfig(s, id, secret)).GetUser(ctx, &iam.GetUserInput{})
	if err != nil || aws.ToString(u.User.UserName) != f.admin(t) {
		t.Errorf("GetUser without a name, with the key of --access-key-id: %v, want user %s", userOrErr(u, err), f.admin(t))
	}
}
