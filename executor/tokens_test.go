package executor

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/report"
)

// seedSource computes a fleet device's codes as its token would, and records the time
// step of every request.
type seedSource struct {
	fleet *iamsim.Fleet
	mu    sync.Mutex
	steps map[string][]int64
}

func (s *seedSource) Codes(ctx context.Context, d plan.Device, now time.Time) (string, string, error) {
	step := stepOf(now)
	c1, err := s.fleet.TokenCode(d.SerialNumber, stepStart(step-1))
	if err != nil {
		return "", "", err
	}
	c2, err := s.fleet.TokenCode(d.SerialNumber, stepStart(step))
	s.mu.Lock()
	s.steps[d.SerialNumber] = append(s.steps[d.SerialNumber], step)
	s.mu.Unlock()
	return c1, c2, err
}

// loseFirstReply lets the simulator lose the reply of serial's first resync (it is
// applied, the connection closes), and passes every other call through.
type loseFirstReply struct {
	API
	sim    *simtest.Sim
	serial string
	mu     sync.Mutex
	done   bool
}

func (l *loseFirstReply) ResyncMFADevice(ctx context.Context, in *iam.ResyncMFADeviceInput, optFns ...func(*iam.Options)) (*iam.ResyncMFADeviceOutput, error) {
	l.mu.Lock()
	defer l.mu.Unlock() // one request at a time: the fault must hit this one only
	if !l.done && aws.ToString(in.SerialNumber) == l.serial {
		l.done = true
		l.sim.Server.SetFaults(iamsim.Faults{LostReply: 1})
		defer l.sim.Server.SetFaults(iamsim.Faults{})
	}
	return l.API.ResyncMFADevice(ctx, in, optFns...)
}

// TestTokenLostReplyFreshCodes: a token device whose reply is lost is not left in
// doubt: it waits (without its worker slot) until IAM's clock reaches the step after
// the next one, and sends fresh codes, which IAM accepts even though the first attempt
// was applied. The simulator's clock is moved instead of waiting.
func TestTokenLostReplyFreshCodes(t *testing.T) {
	testenv.AWSEnv(t, iamsim.ExampleAccessKeyID, iamsim.ExampleSecretAccessKey)
	sim := simtest.Start(t, simtest.Options{})
	// Frozen 5 s into a step: the test decides when IAM's time moves.
	start := stepStart(stepOf(time.Now())).Add(5 * time.Second)
	sim.Server.Clock().Freeze(start)
	const a, b = "arn:aws:iam::123456789012:mfa/alice", "arn:aws:iam::123456789012:mfa/carol"
	var devs deviceList
	for _, serial := range []string{a, b} {
		for _, d := range sim.Fleet.Devices {
			if d.SerialNumber == serial {
				devs = append(devs, plan.Device{UserName: d.UserName, SerialNumber: serial,
					Token: &plan.Token{Kind: "tpm", Serial: "tpm", Credential: serial}})
			}
		}
	}
	if len(devs) != 2 {
		t.Fatal("alice and carol are not in the sample fleet")
	}

	clock := &Clock{}
	cfg := sim.Config(t)
	cfg.APIOptions = append(cfg.APIOptions, clock.AddMiddleware)
	api := &loseFirstReply{API: iam.NewFromConfig(cfg), sim: sim, serial: a}
	src := &seedSource{fleet: sim.Fleet, steps: map[string][]int64{}}
	bDone := make(chan struct{})
	var slept time.Duration
	opts := fastOptions()
	opts.Concurrency = 1
	opts.Codes, opts.Clock = src, clock
	opts.OnOutcome = func(o report.Outcome) {
		if o.SerialNumber == b {
			close(bDone)
		}
	}
	opts.Sleep = func(ctx context.Context, d time.Duration) error {
		if slept == 0 {
			// With one worker, carol can only be sent if alice's wait gave the slot back.
			select {
			case <-bDone:
			case <-time.After(10 * time.Second):
				t.Error("carol was not sent while alice waited: the wait holds the worker slot")
			}
		}
		slept += d
		sim.Server.Clock().Advance(d)
		clock.Observe(sim.Now(), time.Now())
		return ctx.Err()
	}
	res := mustRun(t, context.Background(), api, devs, opts)

	s := stepOf(start)
	for i, o := range res.Outcomes {
		if o.Status != report.Succeeded {
			t.Errorf("%s: %s %s %s", o.SerialNumber, o.Status, o.ErrorCode, o.ErrorMessage)
		}
		if want := 1 + btoi(i == 0); o.Attempts != want {
			t.Errorf("%s: %d attempts, want %d", o.SerialNumber, o.Attempts, want)
		}
	}
	if got := fmt.Sprint(src.steps[a]); got != fmt.Sprint([]int64{s, s + 2}) {
		t.Errorf("alice's codes were for steps %s, want %d then %d", got, s, s+2)
	}
	if slept < 50*time.Second || slept > 60*time.Second {
		t.Errorf("waited %s of IAM's time, want the rest of two steps (56 s)", slept)
	}
	// The lost attempt was applied, and so was the fresh one: two ok entries, the
	// device certainly in sync.
	if ok := okResyncs(sim); ok[a] != 2 || ok[b] != 1 {
		t.Errorf("ledger ok resyncs %v, want alice 2 and carol 1", ok)
	}
	if st, _ := sim.Server.Device(a); st.LastStep != s+2 || st.DriftSteps != 0 {
		t.Errorf("alice stored last step %d drift %d, want %d and 0", st.LastStep, st.DriftSteps, s+2)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A manifest device keeps the in_doubt outcome (its codes cannot be renewed), and a
// token device's fresh codes that IAM rejects are a failure, not a doubt.
func TestTokenFreshCodesRejected(t *testing.T) {
	f := newFake()
	devs := deviceList{{UserName: "alice", SerialNumber: "arn:aws:iam::123456789012:mfa/alice", Token: &plan.Token{Kind: "tpm", Serial: "tpm"}}}
	f.script[devs[0].SerialNumber] = []fault{fLost, fBadCode}
	clock := &Clock{}
	opts := fastOptions()
	opts.Codes, opts.Clock = &fixedSource{}, clock
	var slept time.Duration
	opts.Sleep = func(ctx context.Context, d time.Duration) error {
		slept += d
		clock.Observe(time.Now().Add(slept), time.Now())
		return nil
	}
	res := mustRun(t, context.Background(), f, devs, opts)
	if o := res.Outcomes[0]; o.Status != report.Failed || o.ErrorCode != "InvalidAuthenticationCode" || o.Attempts != 2 ||
		regexp.MustCompile(`111111|222222`).MatchString(o.ErrorMessage) {
		t.Errorf("%+v", o)
	}
	if slept < 30*time.Second {
		t.Errorf("slept %s before fresh codes", slept)
	}
}

// A signal while a token device waits for fresh codes ends the wait at once; the
// device is in doubt.
func TestTokenWaitInterrupted(t *testing.T) {
	f := newFake()
	devs := deviceList{{UserName: "alice", SerialNumber: "arn:aws:iam::123456789012:mfa/alice", Token: &plan.Token{Kind: "tpm", Serial: "tpm"}}}
	f.script[devs[0].SerialNumber] = []fault{fLost}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := fastOptions()
	opts.Codes = &fixedSource{}
	sleeps := 0
	opts.Sleep = func(ctx context.Context, d time.Duration) error {
		sleeps++
		if sleeps > 1 {
			return nil // a wait that went on after the signal: caught below, not hung here
		}
		cancel() // the signal arrives during the wait
		<-ctx.Done()
		return ctx.Err()
	}
	res := mustRun(t, ctx, f, devs, opts)
	if o := res.Outcomes[0]; o.Status != report.InDoubt || o.Attempts != 1 {
		t.Errorf("%+v", o)
	}
	if !errors.Is(res.Stop, ErrInterrupted) {
		t.Errorf("stop %v, want ErrInterrupted", res.Stop)
	}
	// The wait ended with the first slice cut short: no further slice, no new attempt.
	if sleeps != 1 || f.calls[devs[0].SerialNumber] != 1 {
		t.Errorf("%d waits and %d requests after the signal, want 1 and 1", sleeps, f.calls[devs[0].SerialNumber])
	}
}

// touchSource needs a touch for the devices in touch; a touch takes delay.
type touchSource struct {
	touch  map[string]bool
	delay  time.Duration
	mu     sync.Mutex
	read   map[string]time.Time
	before func() // called as a touch is awaited
}

func (s *touchSource) NeedsTouch(d plan.Device) bool { return s.touch[d.SerialNumber] }

func (s *touchSource) Codes(ctx context.Context, d plan.Device, now time.Time) (string, string, error) {
	if s.touch[d.SerialNumber] {
		if s.before != nil {
			s.before()
		}
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return "", "", ctx.Err()
		}
	}
	s.mu.Lock()
	s.read[d.SerialNumber] = time.Now()
	s.mu.Unlock()
	return "111111", "222222", nil
}

// Touch devices go last, and their codes are read before a rate token is taken.
func TestTouchDevicesLastWithoutRateToken(t *testing.T) {
	devs := devices(3)
	for i := range devs {
		devs[i].Code1, devs[i].Code2 = "", ""
		devs[i].Token = &plan.Token{Kind: "yubikey", Serial: "11111111"}
	}
	src := &touchSource{touch: map[string]bool{devs[0].SerialNumber: true}, read: map[string]time.Time{}}
	f := newFake()
	var mu sync.Mutex
	var order []string
	f.observe = func(in *iam.ResyncMFADeviceInput) {
		mu.Lock()
		order = append(order, aws.ToString(in.UserName))
		mu.Unlock()
	}
	opts := fastOptions()
	opts.Concurrency = 1
	opts.Codes = src
	res := mustRun(t, context.Background(), f, devs, opts)
	if fmt.Sprint(order) != "[user001 user002 user000]" {
		t.Errorf("sent in order %v, want the touch device user000 last", order)
	}
	for _, o := range res.Outcomes {
		if o.Status != report.Succeeded {
			t.Errorf("%+v", o)
		}
	}

	// One request per second, burst 1: when the touch device's codes are read, the
	// limiter's one token must still be there.
	var lim *adaptiveLimiter
	newLimiter = func(target, floor float64, burst int) *adaptiveLimiter {
		lim = newAdaptiveLimiter(target, floor, burst)
		return lim
	}
	t.Cleanup(func() { newLimiter = newAdaptiveLimiter })
	var tokens float64
	src = &touchSource{touch: map[string]bool{devs[0].SerialNumber: true}, read: map[string]time.Time{},
		before: func() { tokens = lim.lim.Tokens() }}
	opts = fastOptions()
	opts.Rate, opts.MinRate, opts.Codes = 1, 1, src
	res = mustRun(t, context.Background(), newFake(), devs[:1], opts)
	if o := res.Outcomes[0]; o.Status != report.Succeeded {
		t.Errorf("%+v", o)
	}
	if tokens < 0.9 {
		t.Errorf("the limiter had %.2f tokens while the touch was awaited: the device held its rate token", tokens)
	}
}
