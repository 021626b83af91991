package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"golang.org/x/sync/errgroup"

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
		lim: newAdaptiveLimiter(opts.Rate, opts.MinRate, opts.Burst)}
	r.stopCtx, r.stopRun = context.WithCancelCause(ctx)
	defer r.stopRun(nil)

	n := devs.Len()
	res := &Result{Outcomes: make([]report.Outcome, n)}
	var g errgroup.Group
	g.SetLimit(opts.Concurrency)
	for i := 0; i < n; i++ {
		d := devs.Device(i)
		out := &res.Outcomes[i]
		if st, ok := opts.Resume.Device(d.SerialNumber); ok && st.Succeeded {
			*out = r.doneEarlier(d, st)
			r.emit(*out)
			continue
		}
		if r.stopCtx.Err() != nil {
			*out = r.notSent(d)
			r.emit(*out)
			continue
		}
		g.Go(func() error {
			*out = r.device(d)
			r.emit(*out)
			return nil
		})
	}
	g.Wait()
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
	return o
}

func (r *runner) emit(o report.Outcome) {
	lvl := slog.LevelInfo
	if o.Status != report.Succeeded && o.Status != report.Skipped {
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

// device runs one device's attempts to its final row.
func (r *runner) device(d plan.Device) report.Outcome {
	o := r.row(d)
	st, _ := r.opts.Resume.Device(d.SerialNumber)
	attempt := st.Attempts // attempt numbers continue across resumed runs
	unanswered := st.Unanswered
	tries, throttles := 0, 0
	var last attemptError
	finish := func() report.Outcome {
		o.Attempts = attempt
		if !o.StartedAt.IsZero() {
			o.FinishedAt = time.Now().UTC()
			o.DurationMS = o.FinishedAt.Sub(o.StartedAt).Milliseconds()
		}
		return o
	}
	for {
		if r.stopCtx.Err() != nil {
			r.stopped(&o, unanswered)
			return finish()
		}
		epoch, err := r.lim.wait(r.stopCtx)
		if err != nil {
			r.stopped(&o, unanswered)
			return finish()
		}
		in := &iam.ResyncMFADeviceInput{UserName: aws.String(d.UserName), SerialNumber: aws.String(d.SerialNumber),
			AuthenticationCode1: aws.String(d.Code1), AuthenticationCode2: aws.String(d.Code2)}
		if d.Token != nil {
			c1, c2, err := r.tokenCodes(d)
			if err != nil {
				o.Status, o.ErrorCode = report.Failed, CodeToken
				o.ErrorMessage = report.Scrub(err.Error(), c1, c2)
				return finish()
			}
			in.AuthenticationCode1, in.AuthenticationCode2 = aws.String(c1), aws.String(c2)
		}
		attempt++
		if o.StartedAt.IsZero() {
			o.StartedAt = time.Now().UTC()
		}
		if j := r.opts.Journal; j != nil {
			if err := j.Intent(d.SerialNumber, d.UserName, attempt); err != nil {
				attempt-- // not sent
				r.stopRun(fmt.Errorf("%w: %v", ErrJournal, err))
				r.stopped(&o, unanswered)
				return finish()
			}
		}
		sent := time.Now()
		r.markStart(sent)
		reqCtx, cancel := context.WithTimeout(context.WithoutCancel(r.stopCtx), r.opts.Timeout)
		out, err := r.api.ResyncMFADevice(reqCtx, in)
		r.requests.Add(1)
		r.markEnd()
		if err == nil {
			cancel()
			rid, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
			r.lim.succeeded()
			r.journal(d, attempt, resultOK, "", rid)
			r.log.Debug("attempt", "serial", d.SerialNumber, "attempt", attempt, "result", "ok", "request_id", rid,
				"ms", time.Since(sent).Milliseconds())
			o.Status, o.RequestID = report.Succeeded, rid
			o.ErrorCode, o.ErrorMessage = "", ""
			return finish()
		}
		last = classify(reqCtx, err)
		cancel()
		last.message = report.Scrub(last.message, *in.AuthenticationCode1, *in.AuthenticationCode2)
		o.RequestID = last.requestID
		result := resultError
		if last.class == classUnknown {
			result = resultNoAnswer
			unanswered = true
		}
		r.journal(d, attempt, result, last.code, last.requestID)
		r.log.Debug("attempt", "serial", d.SerialNumber, "attempt", attempt, "result", result,
			"error_code", last.code, "error", last.message, "request_id", last.requestID,
			"ms", time.Since(sent).Milliseconds())

		var wait time.Duration
		switch last.class {
		case classThrottled:
			r.throttle.Add(1)
			r.lim.throttled(epoch)
			throttles++
			if throttles >= r.opts.MaxThrottledAttempts {
				return r.failed(&o, last, unanswered, attempt, finish)
			}
			wait = jitter(throttleBackoffBase, throttleBackoffMax, throttles)
		case classRetry, classUnknown:
			tries++
			if tries >= r.opts.MaxAttempts {
				return r.failed(&o, last, unanswered, attempt, finish)
			}
			wait = jitter(r.opts.BackoffBase, r.opts.BackoffMax, tries)
		case classCredentials:
			r.stopRun(fmt.Errorf("%w: IAM answered %s", ErrCredentials, last.code))
			o.Status, o.ErrorCode = report.NotAttempted, last.code
			o.ErrorMessage = "IAM refused the credentials, so the run stopped: " + last.message
			if unanswered {
				o.Status = report.InDoubt
				o.ErrorMessage = "an earlier attempt got no answer and IAM may have applied it; then IAM refused the credentials"
			}
			return finish()
		default:
			return r.failed(&o, last, unanswered, attempt, finish)
		}
		select {
		case <-time.After(wait):
		case <-r.stopCtx.Done():
		}
	}
}

// failed finishes a device on its last error. Codes rejected after an unanswered
// attempt are most likely codes that attempt used: the device is in doubt, not failed.
func (r *runner) failed(o *report.Outcome, last attemptError, unanswered bool, attempt int, finish func() report.Outcome) report.Outcome {
	o.Status, o.ErrorCode, o.ErrorMessage = report.Failed, last.code, last.message
	switch {
	case unanswered && last.code == "InvalidAuthenticationCode":
		o.Status = report.InDoubt
		o.ErrorMessage = "an earlier attempt got no answer, and IAM now rejects the codes, most likely because that attempt used them: " +
			"the device is probably resynced; confirm by signing in with it (IAM said: " + last.message + ")"
	case last.class == classUnknown && !last.answered:
		o.Status = report.InDoubt
		o.ErrorMessage = fmt.Sprintf("no answer after %d attempts; IAM may have applied one (last: %s)", attempt, last.message)
	case last.class == classThrottled:
		o.ErrorMessage = fmt.Sprintf("throttled %d times in a row: %s", r.opts.MaxThrottledAttempts, last.message)
	}
	return finish()
}

func (r *runner) journal(d plan.Device, attempt int, result, code, rid string) {
	if j := r.opts.Journal; j != nil {
		if err := j.outcome(d.SerialNumber, attempt, result, code, rid); err != nil {
			r.stopRun(fmt.Errorf("%w: %v", ErrJournal, err))
		}
	}
}

func (r *runner) tokenCodes(d plan.Device) (string, string, error) {
	if r.opts.Codes == nil {
		return "", "", errors.New("device codes come from a token, but no token source is configured")
	}
	now := time.Now()
	if r.opts.Clock != nil {
		now = r.opts.Clock.Now()
	}
	ctx, cancel := context.WithTimeout(r.stopCtx, r.opts.Timeout)
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
