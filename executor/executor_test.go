package executor

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/report"
)

func TestDeviceOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		script    []fault
		status    report.Status
		code      string
		attempts  int
		appliedOK int
	}{
		{"success", nil, report.Succeeded, "", 1, 1},
		{"throttled then ok", []fault{fThrottle, fThrottle}, report.Succeeded, "", 3, 1},
		// Throttled attempts do not count against MaxAttempts (4).
		{"throttled beyond max attempts", []fault{fThrottle, fThrottle, fThrottle, fThrottle, fThrottle, fThrottle}, report.Succeeded, "", 7, 1},
		{"server failure then ok", []fault{fServer, fServer}, report.Succeeded, "", 3, 1},
		{"drop then ok", []fault{fDrop}, report.Succeeded, "", 2, 1},
		{"server failures exhaust", []fault{fServer, fServer, fServer, fServer}, report.Failed, "ServiceFailure", 4, 0},
		{"drops exhaust: may have applied", []fault{fDrop, fDrop, fDrop, fDrop}, report.InDoubt, CodeConnection, 4, 0},
		{"bad code never retried", []fault{fBadCode}, report.Failed, "InvalidAuthenticationCode", 1, 0},
		{"no such entity never retried", []fault{fNoSuchEntity}, report.Failed, "NoSuchEntity", 1, 0},
		{"lost reply then used codes", []fault{fLost}, report.InDoubt, "InvalidAuthenticationCode", 2, 1},
		// IAM's 200 came, and only its body was lost: the resync is done, not in doubt.
		{"answered 200, body lost", []fault{fBodyLost}, report.Succeeded, "", 1, 1},
		{"server failure then bad code", []fault{fServer, fBadCode}, report.InDoubt, "InvalidAuthenticationCode", 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			devs := devices(1)
			f.script[devs[0].SerialNumber] = tt.script
			res := mustRun(t, context.Background(), f, devs, fastOptions())
			o := res.Outcomes[0]
			if o.Status != tt.status || o.ErrorCode != tt.code || o.Attempts != tt.attempts {
				t.Errorf("got %s/%q after %d attempts, want %s/%q after %d (%s)", o.Status, o.ErrorCode, o.Attempts,
					tt.status, tt.code, tt.attempts, o.ErrorMessage)
			}
			if f.ok[devs[0].SerialNumber] != tt.appliedOK {
				t.Errorf("fake applied %d resyncs, want %d", f.ok[devs[0].SerialNumber], tt.appliedOK)
			}
			for _, c := range []string{devs[0].Code1, devs[0].Code2} {
				if strings.Contains(o.ErrorMessage, c) {
					t.Errorf("message holds a code: %q", o.ErrorMessage)
				}
			}
			if o.UserName != devs[0].UserName || o.AccountID != "123456789012" || o.Line != 2 {
				t.Errorf("row identity wrong: %+v", o)
			}
			if o.StartedAt.IsZero() || o.FinishedAt.Before(o.StartedAt) {
				t.Errorf("times wrong: %v %v", o.StartedAt, o.FinishedAt)
			}
		})
	}
}

func TestExpiredCredentialsStopRun(t *testing.T) {
	f := newFake()
	devs := devices(50)
	f.script[devs[10].SerialNumber] = []fault{fExpired}
	opts := fastOptions()
	opts.Concurrency = 1
	res := mustRun(t, context.Background(), f, devs, opts)
	if !errors.Is(res.Stop, ErrCredentials) {
		t.Fatalf("Stop = %v, want ErrCredentials", res.Stop)
	}
	for i, o := range res.Outcomes {
		switch {
		case i < 10 && o.Status != report.Succeeded:
			t.Errorf("device %d: %s", i, o.Status)
		case i == 10 && (o.Status != report.NotAttempted || o.ErrorCode != "ExpiredToken"):
			t.Errorf("device 10: %s %s", o.Status, o.ErrorCode)
		case i > 10 && (o.Status != report.NotAttempted || o.ErrorCode != CodeCredentialsStopped):
			t.Errorf("device %d: %s %s", i, o.Status, o.ErrorCode)
		}
	}
	if got := len(f.calls); got != 11 {
		t.Errorf("%d devices sent, want 11", got)
	}
}

func TestInterruptLetsInFlightFinish(t *testing.T) {
	f := newFake()
	devs := devices(40)
	ctx, cancel := context.WithCancelCause(context.Background())
	var n atomic.Int32
	f.observe = func(in *iam.ResyncMFADeviceInput) {
		if n.Add(1) == 5 {
			cancel(errors.New("interrupted by test"))
			time.Sleep(20 * time.Millisecond) // the request is still in flight
		}
	}
	opts := fastOptions()
	opts.Concurrency = 2
	res := mustRun(t, ctx, f, devs, opts)
	if !errors.Is(res.Stop, ErrInterrupted) {
		t.Fatalf("Stop = %v", res.Stop)
	}
	counts := map[report.Status]int{}
	for _, o := range res.Outcomes {
		counts[o.Status]++
		if o.Status == report.Succeeded && f.ok[o.SerialNumber] != 1 {
			t.Errorf("%s succeeded but fake applied %d", o.SerialNumber, f.ok[o.SerialNumber])
		}
		if o.Status == report.NotAttempted && f.calls[o.SerialNumber] != 0 {
			t.Errorf("%s not_attempted but sent", o.SerialNumber)
		}
	}
	// The request that saw the cancel was in flight: it finished and succeeded.
	if counts[report.Succeeded] < 5 || counts[report.NotAttempted] < 30 || counts[report.Failed] != 0 {
		t.Errorf("counts %v", counts)
	}
}

func TestTimeoutIsUnknown(t *testing.T) {
	f := newFake()
	devs := devices(1)
	f.script[devs[0].SerialNumber] = []fault{fHang}
	opts := fastOptions()
	opts.Timeout = 30 * time.Millisecond
	res := mustRun(t, context.Background(), f, devs, opts)
	if o := res.Outcomes[0]; o.Status != report.Succeeded || o.Attempts != 2 {
		t.Errorf("got %s after %d attempts", o.Status, o.Attempts)
	}
}

type fixedSource struct{ now []time.Time }

func (s *fixedSource) Codes(ctx context.Context, d plan.Device, now time.Time) (string, string, error) {
	s.now = append(s.now, now)
	return "111111", "222222", nil
}

func TestTokenCodesUseIAMClock(t *testing.T) {
	f := newFake()
	var got []string
	f.observe = func(in *iam.ResyncMFADeviceInput) {
		got = append(got, aws.ToString(in.AuthenticationCode1), aws.ToString(in.AuthenticationCode2))
	}
	devs := deviceList{{UserName: "alice", SerialNumber: "YK1", Token: &plan.Token{Kind: "yubikey", Serial: "123", Attestation: "genuine"}}}
	clock := &Clock{}
	clock.Observe(time.Now().Add(-10*time.Minute), time.Now())
	src := &fixedSource{}
	opts := fastOptions()
	opts.Codes, opts.Clock = src, clock
	res := mustRun(t, context.Background(), f, devs, opts)
	if res.Outcomes[0].Status != report.Succeeded || res.Outcomes[0].TokenSerial != "123" {
		t.Fatalf("%+v", res.Outcomes[0])
	}
	if len(src.now) != 1 || time.Since(src.now[0]) < 9*time.Minute {
		t.Errorf("codes asked for at %v, want IAM's clock ten minutes behind", src.now)
	}
	if strings.Join(got, ",") != "111111,222222" {
		t.Errorf("sent %v", got)
	}
	// Without a source, a token device fails without being sent.
	opts.Codes = nil
	res = mustRun(t, context.Background(), newFake(), devs, opts)
	if o := res.Outcomes[0]; o.Status != report.Failed || o.ErrorCode != CodeToken || o.Attempts != 0 {
		t.Errorf("%+v", o)
	}
}

func TestLimiterAIMD(t *testing.T) {
	a := newAdaptiveLimiter(100, 1, 1)
	e, _ := a.wait(context.Background())
	a.throttled(e)
	if got := a.rate(); got != 100*decreaseFactor {
		t.Fatalf("after a throttle: %v", got)
	}
	a.throttled(e) // sent before the cut: ignored
	if got := a.rate(); got != 100*decreaseFactor {
		t.Fatalf("stale throttle cut again: %v", got)
	}
	for i := 0; i < 10000; i++ {
		a.succeeded()
	}
	if got := a.rate(); got != 100 {
		t.Fatalf("successes should bring the rate back to the target: %v", got)
	}
	for i := 0; i < 1000; i++ {
		a.mu.Lock()
		e := a.epoch
		a.mu.Unlock()
		a.throttled(e)
	}
	if got := a.rate(); got != 1 {
		t.Fatalf("the floor should hold: %v", got)
	}
}

func TestClassify(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		err   error
		class class
		code  string
	}{
		{apiErr(400, "Throttling", "Rate exceeded"), classThrottled, "Throttling"},
		{apiErr(500, "ServiceFailure", "x"), classUnknown, "ServiceFailure"},
		{apiErr(503, "Weird", "x"), classUnknown, "Weird"},
		{apiErr(403, "ExpiredToken", "x"), classCredentials, "ExpiredToken"},
		{apiErr(403, "InvalidClientTokenId", "x"), classCredentials, "InvalidClientTokenId"},
		{apiErr(403, "AccessDenied", "x"), classPermanent, "AccessDenied"},
		{apiErr(400, "ValidationError", "x"), classPermanent, "ValidationError"},
		{apiErr(409, "LimitExceeded", "x"), classPermanent, "LimitExceeded"},
		{apiErr(409, "ConcurrentModification", "x"), classRetry, "ConcurrentModification"},
		{errors.New("boom"), classUnknown, CodeNoAnswer},
	}
	for _, tt := range tests {
		e := classify(ctx, tt.err)
		if e.class != tt.class || e.code != tt.code {
			t.Errorf("%v: class %d code %q, want %d %q", tt.err, e.class, e.code, tt.class, tt.code)
		}
	}
}
