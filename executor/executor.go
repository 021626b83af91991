package executor

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/sync/errgroup"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/report"
)

// Defaults. The rate is conservative because IAM's request budget is per account and
// shared with the company's other automation; AWS publishes no figure for it.
const (
	DefaultRate                 = 10.0 // requests per second
	DefaultConcurrency          = 8
	DefaultMaxAttempts          = 8 // attempts that were not throttled
	DefaultMaxThrottledAttempts = 100
	DefaultTimeout              = 15 * time.Second
	DefaultBackoffBase          = 200 * time.Millisecond
	DefaultBackoffMax           = 10 * time.Second
	throttleBackoffBase         = 20 * time.Millisecond
	throttleBackoffMax          = 500 * time.Millisecond
)

// Run errors, in Result.Stop.
var (
	// ErrInterrupted: the run's context was cancelled (a signal); the rest was not sent.
	ErrInterrupted = errors.New("run interrupted")
	// ErrCredentials: IAM refused the credentials (expired or invalid); the rest was not sent.
	ErrCredentials = errors.New("credentials expired or refused")
	// ErrJournal: the journal could not be written; without it a crash could resend a
	// device, so the rest was not sent.
	ErrJournal = errors.New("journal write failed")
)

// API is the IAM call the executor makes; *iam.Client satisfies it. The client must not
// retry by itself (awscfg.Load's config does not): every attempt must take a rate token
// and be journalled.
type API interface {
	ResyncMFADevice(ctx context.Context, in *iam.ResyncMFADeviceInput, optFns ...func(*iam.Options)) (*iam.ResyncMFADeviceOutput, error)
}

// Devices is the part of a plan the executor reads; *plan.Plan satisfies it.
type Devices interface {
	Len() int
	Device(i int) plan.Device
}

// Options tune a run. Zero values take the defaults above.
type Options struct {
	Rate                 float64 // target requests per second (--rate)
	MinRate              float64 // floor of the adaptive rate; default min(1, Rate)
	Burst                int     // rate limiter burst; default 1 (smooth pacing)
	Concurrency          int     // requests in flight at most (--concurrency)
	MaxAttempts          int     // attempts per device not counting throttled ones (--max-attempts)
	MaxThrottledAttempts int     // throttled attempts per device before it fails
	Timeout              time.Duration
	BackoffBase          time.Duration // first retry's backoff ceiling (full jitter)
	BackoffMax           time.Duration

	AccountID string     // for rows whose device names none
	Codes     CodeSource // for devices with a Token
	Clock     *Clock     // IAM's clock, for token codes; default the host's
	Journal   *Journal   // nil: no journal (tests)
	Resume    *Resume    // what an earlier run of the same journal did
	Logger    *slog.Logger
	// Sleep waits d or until ctx is done (then it returns ctx's error); nil uses a
	// timer. Tests replace it to move a simulated IAM clock instead of waiting.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnOutcome is called once per device with its final row, from several goroutines.
	OnOutcome func(report.Outcome)
}

// Result is a run's outcome: one row per device, in plan order.
type Result struct {
	Outcomes  []report.Outcome
	Started   time.Time // first request sent
	Finished  time.Time // last answer
	Requests  int
	Throttled int
	RateCuts  int     // times Throttling lowered the rate
	FinalRate float64 // the adaptive rate at the end
	// Stop is why the run stopped early (ErrInterrupted, ErrCredentials, ErrJournal,
	// wrapped with detail), or nil.
	Stop error
}

// Elapsed is the time from the first request to the last answer.
func (r *Result) Elapsed() time.Duration {
	if r.Started.IsZero() {
		return 0
	}
	return r.Finished.Sub(r.Started)
}

type runner struct {
	api  API
	opts Options
	lim  *adaptiveLimiter
	log  *slog.Logger

	stopCtx  context.Context // cancelled when the run must stop sending
	stopRun  context.CancelCauseFunc
	requests atomic.Int64
	throttle atomic.Int64

	mu      sync.Mutex
	started time.Time
	last    time.Time
}

// Run resyncs every device of devs, at most opts.Concurrency at a time. A device's
// failure is its row; Run itself returns an error only for bad options. When ctx is
// cancelled, no new attempt starts, requests in flight finish, and every device not
// finished is reported not_attempted (or in_doubt when an attempt had no answer).
func Run(ctx context.Context, api API, devs Devices, opts Options) (*Result, error) {
	if devs == nil || api == nil {
		return nil, errors.New("executor: no devices or no IAM client")
	}
	opts = withDefaults(opts)
	if opts.Rate <= 0 || opts.Concurrency <= 0 || opts.MaxAttempts <= 0 || opts.Timeout <= 0 {
		return nil, fmt.Errorf("executor: rate, concurrency, max attempts and timeout must be positive")
	}
	r := &runner{api: api, opts: opts, log: opts.Logger,
		lim: newLimiter(opts.Rate, opts.MinRate, opts.Burst)}
	r.stopCtx, r.stopRun = context.WithCancelCause(ctx)
	defer r.stopRun(nil)

	n := devs.Len()
	res := &Result{Outcomes: make([]report.Outcome, n)}
	// The pool's slots are held only while a device is being sent: a token device that
	// must wait for fresh codes waits outside the pool (see task.waitStep) and goes back
	// in. A device's failure is its row, so no function in the pool returns an error.
	pool := new(errgroup.Group)
	pool.SetLimit(opts.Concurrency)
	var wg sync.WaitGroup // devices not finished yet
	finish := func(t *task) {
		res.Outcomes[t.i] = t.o
		r.emit(t.o)
		wg.Done()
	}
	var send func(t *task)
	send = func(t *task) {
		pool.Go(func() error {
			if r.device(t) {
				finish(t)
				return nil
			}
			go func() {
				if err := r.waitStep(t); err != nil {
					r.stopped(&t.o, t.unanswered)
					t.finish()
					finish(t)
					return
				}
				send(t)
			}()
			return nil
		})
	}
	for _, i := range r.order(devs) {
		d := devs.Device(i)
		if st, ok := opts.Resume.Device(d.SerialNumber); ok && st.Succeeded {
			res.Outcomes[i] = r.doneEarlier(d, st)
			r.emit(res.Outcomes[i])
			continue
		}
		if r.stopCtx.Err() != nil {
			res.Outcomes[i] = r.notSent(d)
			r.emit(res.Outcomes[i])
			continue
		}
		wg.Add(1)
		send(r.newTask(i, d))
	}
	wg.Wait()
	_ = pool.Wait()
	res.Requests = int(r.requests.Load())
	res.Throttled = int(r.throttle.Load())
	res.Started, res.Finished = r.started, r.last
	res.RateCuts = r.lim.cuts
	res.FinalRate = r.lim.rate()
	if cause := context.Cause(r.stopCtx); r.stopCtx.Err() != nil && cause != nil {
		res.Stop = cause
		if errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded) || ctx.Err() != nil {
			res.Stop = fmt.Errorf("%w: %v", ErrInterrupted, context.Cause(ctx))
		}
	}
	return res, nil
}

// newLimiter makes a run's limiter; tests look into it.
var newLimiter = newAdaptiveLimiter

func withDefaults(o Options) Options {
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.MinRate <= 0 {
		o.MinRate = min(1, o.Rate)
	}
	if o.Burst <= 0 {
		o.Burst = 1
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxThrottledAttempts <= 0 {
		o.MaxThrottledAttempts = DefaultMaxThrottledAttempts
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return o
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// toucher is a CodeSource whose devices may need a touch of their token.
type toucher interface {
	NeedsTouch(d plan.Device) bool
}

// order is the order devices are sent in: the plan's, except that devices whose codes
// need a touch go last, so the others are not kept waiting behind a person.
func (r *runner) order(devs Devices) []int {
	n := devs.Len()
	order := make([]int, 0, n)
	tc, _ := r.opts.Codes.(toucher)
	var touch []int
	for i := 0; i < n; i++ {
		if tc != nil {
			if d := devs.Device(i); d.Token != nil && tc.NeedsTouch(d) {
				touch = append(touch, i)
				continue
			}
		}
		order = append(order, i)
	}
	return append(order, touch...)
}

func (r *runner) emit(o report.Outcome) {
	// Warnings are what a person must look at: failures and devices in doubt. Devices a
	// stop left unsent are counted in the summary; at a terminal, where only warnings
	// show above the progress bar, one line each would bury the failures.
	lvl := slog.LevelInfo
	if o.Status == report.Failed || o.Status == report.InDoubt {
		lvl = slog.LevelWarn
	}
	if r.log.Enabled(context.Background(), lvl) {
		attrs := []slog.Attr{slog.String("user", o.UserName), slog.String("serial", o.SerialNumber),
			slog.String("status", string(o.Status)), slog.Int("attempts", o.Attempts)}
		if o.ErrorCode != "" {
			attrs = append(attrs, slog.String("error_code", o.ErrorCode), slog.String("error", o.ErrorMessage))
		}
		if o.RequestID != "" {
			attrs = append(attrs, slog.String("request_id", o.RequestID))
		}
		r.log.LogAttrs(context.Background(), lvl, "device", attrs...)
	}
	if r.opts.OnOutcome != nil {
		r.opts.OnOutcome(o)
	}
}

func (r *runner) row(d plan.Device) report.Outcome {
	o := report.Outcome{UserName: d.UserName, SerialNumber: d.SerialNumber, AccountID: d.AccountID,
		Line: d.Line, Ticket: d.Ticket}
	if o.AccountID == "" {
		o.AccountID = r.opts.AccountID
	}
	if d.Token != nil {
		o.TokenSerial, o.Attestation = d.Token.Serial, d.Token.Attestation
	}
	return o
}

func (r *runner) doneEarlier(d plan.Device, st DeviceState) report.Outcome {
	o := r.row(d)
	o.Status = report.Skipped
	o.ErrorCode = CodeAlreadySucceeded
	o.ErrorMessage = "resynced in an earlier run of this journal; not sent again"
	o.RequestID = st.RequestID
	o.Attempts = st.Attempts
	o.StartedAt, o.FinishedAt = st.StartedAt, st.FinishedAt
	if !st.StartedAt.IsZero() && !st.FinishedAt.IsZero() {
		o.DurationMS = st.FinishedAt.Sub(st.StartedAt).Milliseconds()
	}
	return o
}

// notSent is the row of a device the run stopped before.
func (r *runner) notSent(d plan.Device) report.Outcome {
	o := r.row(d)
	st, _ := r.opts.Resume.Device(d.SerialNumber)
	o.Attempts = st.Attempts
	r.stopped(&o, st.Unanswered)
	return o
}

// stopped fills o for a device the run stopped on before it finished.
func (r *runner) stopped(o *report.Outcome, unanswered bool) {
	cause := context.Cause(r.stopCtx)
	o.Status = report.NotAttempted
	switch {
	case errors.Is(cause, ErrCredentials):
		o.ErrorCode, o.ErrorMessage = CodeCredentialsStopped, "not sent: the run stopped when IAM refused the credentials"
	case errors.Is(cause, ErrJournal):
		o.ErrorCode, o.ErrorMessage = CodeJournal, "not sent: the run stopped when the journal could not be written"
	default:
		o.ErrorCode, o.ErrorMessage = CodeInterrupted, "not sent: the run was interrupted"
	}
	if unanswered {
		o.Status = report.InDoubt
		o.ErrorMessage = "an attempt got no answer and IAM may have applied it; the run stopped before it could tell (resume to settle it)"
	}
}

// TOTP time steps, for tokens' codes (AWS virtual MFA devices use 30 seconds).
const totpStep = 30 * time.Second

// freshMargin is waited beyond the start of the step that makes fresh codes: IAM's
// clock is known only to about a second (the Date header's resolution).
const freshMargin = time.Second

func stepOf(t time.Time) int64 { return t.Unix() / int64(totpStep/time.Second) }

func stepStart(step int64) time.Time { return time.Unix(step*int64(totpStep/time.Second), 0) }

// task is one device's progress through its attempts. It outlives a worker when a
// token device is put aside to wait for fresh codes.
type task struct {
	i          int // index in the plan
	d          plan.Device
	o          report.Outcome
	attempt    int // attempt numbers continue across resumed runs
	tries      int // attempts that were not throttled, in this run
	throttles  int
	unanswered bool // some attempt got no answer: IAM may have applied it
	// Token devices: minStep is the first time step whose codes (steps minStep-1 and
	// minStep) cannot have been accepted by an unanswered attempt; 0 when none is in
	// doubt. fresh: the last codes sent were such codes.
	minStep int64
	fresh   bool
	touch   bool
}

func (r *runner) newTask(i int, d plan.Device) *task {
	t := &task{i: i, d: d, o: r.row(d)}
	st, _ := r.opts.Resume.Device(d.SerialNumber)
	t.attempt, t.unanswered = st.Attempts, st.Unanswered
	if tc, ok := r.opts.Codes.(toucher); ok && d.Token != nil {
		t.touch = tc.NeedsTouch(d)
	}
	// An earlier run's unanswered attempt was sent about when its intent was written:
	// its codes were for that step at most, on IAM's clock.
	if d.Token != nil && st.Unanswered && !st.LastSent.IsZero() {
		t.minStep = stepOf(st.LastSent.Add(r.clockOffset())) + 2
	}
	return t
}

func (t *task) finish() {
	t.o.Attempts = t.attempt
	if !t.o.StartedAt.IsZero() {
		t.o.FinishedAt = time.Now().UTC()
		t.o.DurationMS = t.o.FinishedAt.Sub(t.o.StartedAt).Milliseconds()
	}
}

// now is IAM's time as far as the executor knows it.
func (r *runner) now() time.Time {
	if r.opts.Clock != nil {
		return r.opts.Clock.Now()
	}
	return time.Now()
}

func (r *runner) clockOffset() time.Duration {
	if r.opts.Clock != nil {
		return r.opts.Clock.Offset()
	}
	return 0
}

// ready reports whether t may be sent now: a token device in doubt must wait until
// IAM's clock is in t.minStep, so that its fresh codes cannot be the ones already used.
func (r *runner) ready(t *task) bool {
	return t.d.Token == nil || t.minStep == 0 || !r.now().Before(stepStart(t.minStep).Add(freshMargin))
}

// waitStep waits, holding no worker slot and no rate token, until t may be sent with
// fresh codes. It returns an error when the run stops first.
func (r *runner) waitStep(t *task) error {
	until := stepStart(t.minStep).Add(freshMargin)
	// A warning, so that it shows above a progress bar that would otherwise stall unexplained.
	r.log.Warn("waiting for fresh codes", "user", t.d.UserName, "serial", t.d.SerialNumber,
		"reason", "an attempt got no answer and IAM may have accepted its codes", "iam_time", until.UTC().Format(time.RFC3339))
	for !r.ready(t) {
		if r.stopCtx.Err() != nil {
			return r.stopCtx.Err()
		}
		// In slices: IAM's clock offset may be corrected meanwhile by other answers.
		if err := r.opts.Sleep(r.stopCtx, min(until.Sub(r.now()), 5*time.Second)); err != nil {
			return err
		}
	}
	return r.stopCtx.Err()
}

// device runs t's attempts until its final row (true), or until it must wait for
// fresh codes (false: the caller waits with waitStep and calls device again).
func (r *runner) device(t *task) bool {
	d, o := t.d, &t.o
	for {
		if r.stopCtx.Err() != nil {
			r.stopped(o, t.unanswered)
			t.finish()
			return true
		}
		if !r.ready(t) {
			return false
		}
		in := &iam.ResyncMFADeviceInput{UserName: aws.String(d.UserName), SerialNumber: aws.String(d.SerialNumber),
			AuthenticationCode1: aws.String(d.Code1), AuthenticationCode2: aws.String(d.Code2)}
		var (
			epoch uint64
			err   error
			step  int64
		)
		// A touch can take seconds: its codes are read before the rate token is taken,
		// so the token is not held while a person reaches for the key.
		if !t.touch {
			if epoch, err = r.lim.wait(r.stopCtx); err != nil {
				r.stopped(o, t.unanswered)
				t.finish()
				return true
			}
		}
		if d.Token != nil {
			var c1, c2 string
			now := r.now()
			step = stepOf(now)
			if t.minStep != 0 && step < t.minStep {
				return false // IAM's clock was corrected backwards meanwhile
			}
			c1, c2, err = r.tokenCodes(d, now)
			if err != nil {
				o.Status, o.ErrorCode = report.Failed, CodeToken
				o.ErrorMessage = report.Scrub(err.Error(), c1, c2)
				if t.unanswered {
					o.Status = report.InDoubt
					o.ErrorMessage = "an earlier attempt got no answer and IAM may have applied it; then fresh codes could not be read: " + o.ErrorMessage
				}
				t.finish()
				return true
			}
			in.AuthenticationCode1, in.AuthenticationCode2 = aws.String(c1), aws.String(c2)
			t.fresh = t.minStep != 0
		}
		if t.touch {
			if epoch, err = r.lim.wait(r.stopCtx); err != nil {
				r.stopped(o, t.unanswered)
				t.finish()
				return true
			}
		}
		t.attempt++
		if o.StartedAt.IsZero() {
			o.StartedAt = time.Now().UTC()
		}
		if j := r.opts.Journal; j != nil {
			if err := j.Intent(d.SerialNumber, d.UserName, t.attempt); err != nil {
				t.attempt-- // not sent
				r.stopRun(fmt.Errorf("%w: %v", ErrJournal, err))
				r.stopped(o, t.unanswered)
				t.finish()
				return true
			}
		}
		sent := time.Now()
		r.markStart(sent)
		reqCtx, cancel := context.WithTimeout(context.WithoutCancel(r.stopCtx), r.opts.Timeout)
		out, err := r.api.ResyncMFADevice(reqCtx, in, ScrubLog(*in.AuthenticationCode1, *in.AuthenticationCode2))
		r.requests.Add(1)
		r.markEnd()
		ok, rid := err == nil, ""
		if ok {
			rid, _ = awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		} else if ok, rid = AnsweredOK(err); ok {
			r.log.Debug("attempt answered 200, its body lost", "serial", d.SerialNumber, "request_id", rid)
		}
		if ok {
			cancel()
			r.lim.succeeded()
			r.journal(d, t.attempt, resultOK, "", rid)
			r.log.Debug("attempt", "serial", d.SerialNumber, "attempt", t.attempt, "result", "ok", "request_id", rid,
				"ms", time.Since(sent).Milliseconds())
			o.Status, o.RequestID = report.Succeeded, rid
			o.ErrorCode, o.ErrorMessage = "", ""
			t.finish()
			return true
		}
		last := classify(reqCtx, err)
		cancel()
		last.message = report.Scrub(last.message, *in.AuthenticationCode1, *in.AuthenticationCode2)
		o.RequestID = last.requestID
		result := resultError
		if last.class == classUnknown {
			result = resultNoAnswer
			t.unanswered = true
			if d.Token != nil {
				// IAM may have accepted steps step-1 and step: the next codes must be
				// for steps after them.
				t.minStep = step + 2
			}
		}
		r.journal(d, t.attempt, result, last.code, last.requestID)
		r.log.Debug("attempt", "serial", d.SerialNumber, "attempt", t.attempt, "result", result,
			"error_code", last.code, "error", last.message, "request_id", last.requestID,
			"ms", time.Since(sent).Milliseconds())

		var wait time.Duration
		switch last.class {
		case classThrottled:
			r.throttle.Add(1)
			r.lim.throttled(epoch)
			t.throttles++
			if t.throttles >= r.opts.MaxThrottledAttempts {
				return r.failed(t, last)
			}
			wait = jitter(throttleBackoffBase, throttleBackoffMax, t.throttles)
		case classRetry, classUnknown:
			t.tries++
			if t.tries >= r.opts.MaxAttempts {
				return r.failed(t, last)
			}
			wait = jitter(r.opts.BackoffBase, r.opts.BackoffMax, t.tries)
			if last.class == classUnknown && d.Token != nil {
				wait = 0 // the wait for fresh codes is longer than any backoff
			}
		case classCredentials:
			r.stopRun(fmt.Errorf("%w: IAM answered %s", ErrCredentials, last.code))
			o.Status, o.ErrorCode = report.NotAttempted, last.code
			o.ErrorMessage = "IAM refused the credentials, so the run stopped: " + last.message
			if t.unanswered {
				o.Status = report.InDoubt
				o.ErrorMessage = "an earlier attempt got no answer and IAM may have applied it; then IAM refused the credentials"
			}
			t.finish()
			return true
		default:
			return r.failed(t, last)
		}
		if wait > 0 {
			r.opts.Sleep(r.stopCtx, wait)
		}
	}
}

// failed finishes a device on its last error. Codes rejected after an unanswered
// attempt are most likely codes that attempt used: the device is in doubt, not failed.
// A token device's fresh codes cannot have been used, so their rejection is a failure.
func (r *runner) failed(t *task, last attemptError) bool {
	o := &t.o
	o.Status, o.ErrorCode, o.ErrorMessage = report.Failed, last.code, last.message
	switch {
	case t.unanswered && last.code == "InvalidAuthenticationCode" && t.fresh:
		o.ErrorMessage = "an earlier attempt got no answer, and IAM rejects fresh codes too (IAM said: " + last.message + ")"
	case t.unanswered && last.code == "InvalidAuthenticationCode":
		o.Status = report.InDoubt
		o.ErrorMessage = "an earlier attempt got no answer, and IAM now rejects the codes, most likely because that attempt used them: " +
			"the device is probably resynced; confirm by signing in with it (IAM said: " + last.message + ")"
	case last.class == classUnknown && !last.answered:
		o.Status = report.InDoubt
		o.ErrorMessage = fmt.Sprintf("no answer after %d attempts; IAM may have applied one (last: %s)", t.attempt, last.message)
	case last.class == classThrottled:
		o.ErrorMessage = fmt.Sprintf("throttled %d times in a row: %s", r.opts.MaxThrottledAttempts, last.message)
	}
	t.finish()
	return true
}

func (r *runner) journal(d plan.Device, attempt int, result, code, rid string) {
	if j := r.opts.Journal; j != nil {
		if err := j.outcome(d.SerialNumber, attempt, result, code, rid); err != nil {
			r.stopRun(fmt.Errorf("%w: %v", ErrJournal, err))
		}
	}
}

func (r *runner) tokenCodes(d plan.Device, now time.Time) (string, string, error) {
	if r.opts.Codes == nil {
		return "", "", errors.New("device codes come from a token, but no token source is configured")
	}
	ctx, cancel := r.stopCtx, context.CancelFunc(func() {})
	if tc, ok := r.opts.Codes.(toucher); !ok || !tc.NeedsTouch(d) {
		// A touch has the source's own timeout, longer than a request's.
		ctx, cancel = context.WithTimeout(r.stopCtx, r.opts.Timeout)
	}
	defer cancel()
	c1, c2, err := r.opts.Codes.Codes(ctx, d, now)
	if err != nil {
		return c1, c2, fmt.Errorf("cannot read codes from token %s: %w", d.Token.Serial, err)
	}
	return c1, c2, nil
}

func (r *runner) markStart(t time.Time) {
	r.mu.Lock()
	if r.started.IsZero() {
		r.started = t
	}
	r.mu.Unlock()
}

func (r *runner) markEnd() {
	t := time.Now()
	r.mu.Lock()
	if t.After(r.last) {
		r.last = t
	}
	r.mu.Unlock()
}

// jitter is "full jitter" exponential backoff: uniform in [0, min(max, base*2^(n-1))].
func jitter(base, maxWait time.Duration, n int) time.Duration {
	ceil := base << min(n-1, 30)
	if ceil <= 0 || ceil > maxWait {
		ceil = maxWait
	}
	return rand.N(ceil + 1)
}
