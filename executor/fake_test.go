package executor

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tokenbatch/tokenbatch/plan"
)

// fakeIAM is a fake ResyncMFADevice: it applies a device's codes once, rejects used
// codes as IAM does, and plays a per-serial script of faults first.
type fakeIAM struct {
	mu      sync.Mutex
	script  map[string][]fault // consumed one per call
	calls   map[string]int
	ok      map[string]int // successful resyncs applied, per serial
	used    map[string]string
	observe func(in *iam.ResyncMFADeviceInput)
}

type fault string

const (
	fThrottle     fault = "Throttling"
	fServer       fault = "ServiceFailure"
	fDrop         fault = "drop"    // connection closed before applying
	fLost         fault = "lost"    // applied, then the connection closed
	fBodyLost     fault = "body"    // applied and answered 200, then the body's connection closed
	fBadCode      fault = "badcode" // InvalidAuthenticationCode echoing the codes
	fExpired      fault = "ExpiredToken"
	fNoSuchEntity fault = "NoSuchEntity"
	fHang         fault = "hang" // waits for the request's context
)

func newFake() *fakeIAM {
	return &fakeIAM{script: map[string][]fault{}, calls: map[string]int{}, ok: map[string]int{}, used: map[string]string{}}
}

func apiErr(status int, code, msg string) error {
	return &smithy.OperationError{ServiceID: "IAM", OperationName: "ResyncMFADevice", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: &smithy.GenericAPIError{Code: code, Message: msg}},
		RequestID: "req-err",
	}}
}

func (f *fakeIAM) ResyncMFADevice(ctx context.Context, in *iam.ResyncMFADeviceInput, _ ...func(*iam.Options)) (*iam.ResyncMFADeviceOutput, error) {
	if f.observe != nil {
		f.observe(in)
	}
	serial := aws.ToString(in.SerialNumber)
	codes := aws.ToString(in.AuthenticationCode1) + aws.ToString(in.AuthenticationCode2)
	f.mu.Lock()
	f.calls[serial]++
	var ft fault
	if s := f.script[serial]; len(s) > 0 {
		ft, f.script[serial] = s[0], s[1:]
	}
	f.mu.Unlock()
	switch ft {
	case fThrottle:
		return nil, apiErr(400, "Throttling", "Rate exceeded")
	case fServer:
		return nil, apiErr(500, "ServiceFailure", "internal failure")
	case fExpired:
		return nil, apiErr(403, "ExpiredToken", "The security token included in the request is expired")
	case fNoSuchEntity:
		return nil, apiErr(404, "NoSuchEntity", "The user with name x cannot be found.")
	case fDrop:
		return nil, &smithyhttp.RequestSendError{Err: io.ErrUnexpectedEOF}
	case fHang:
		<-ctx.Done()
		return nil, &smithyhttp.RequestSendError{Err: ctx.Err()}
	case fBadCode:
		return nil, apiErr(403, "InvalidAuthenticationCode", fmt.Sprintf("Authentication code for the MFA device is not valid: %s/%s",
			aws.ToString(in.AuthenticationCode1), aws.ToString(in.AuthenticationCode2)))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.used[serial] == codes {
		return nil, apiErr(403, "InvalidAuthenticationCode", "Authentication code for the MFA device was already used: "+codes)
	}
	f.used[serial] = codes
	f.ok[serial]++
	if ft == fLost {
		return nil, &smithyhttp.RequestSendError{Err: io.ErrUnexpectedEOF}
	}
	if ft == fBodyLost {
		// What the SDK returns when the transport closes the connection under the
		// response body (aws/aws-sdk-go-v2#2737).
		return nil, &smithy.OperationError{ServiceID: "IAM", OperationName: "ResyncMFADevice", Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 200}},
				Err: &smithy.DeserializationError{Err: net.ErrClosed}},
			RequestID: "req-body-lost",
		}}
	}
	out := &iam.ResyncMFADeviceOutput{}
	awsmiddleware.SetRequestIDMetadata(&out.ResultMetadata, fmt.Sprintf("req-%s-%d", serial, f.calls[serial]))
	return out, nil
}

type deviceList []plan.Device

func (l deviceList) Len() int                 { return len(l) }
func (l deviceList) Device(i int) plan.Device { return l[i] }

func devices(n int) deviceList {
	l := make(deviceList, n)
	for i := range l {
		l[i] = plan.Device{UserName: fmt.Sprintf("user%03d", i), SerialNumber: fmt.Sprintf("arn:aws:iam::123456789012:mfa/dev%03d", i),
			Code1: fmt.Sprintf("%06d", 100000+i), Code2: fmt.Sprintf("%06d", 500000+i), Line: i + 2}
	}
	return l
}

// fastOptions retry quickly, so tests do not sleep.
func fastOptions() Options {
	return Options{Rate: 10000, Concurrency: 4, MaxAttempts: 4, BackoffBase: 1e6, BackoffMax: 2e6, AccountID: "123456789012"}
}

func mustRun(t *testing.T, ctx context.Context, api API, devs Devices, opts Options) *Result {
	t.Helper()
	res, err := Run(ctx, api, devs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Outcomes) != devs.Len() {
		t.Fatalf("%d rows for %d devices", len(res.Outcomes), devs.Len())
	}
	return res
}
