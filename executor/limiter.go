package executor

import (
	"context"
	"math"
	"sync"

	"golang.org/x/time/rate"
)

// Rate adaptation. A cut of 5% leaves the send rate just below a limit it found, and
// additive increase of 2% of the rate per second (at least 1 request/s per second)
// brings it back above in a few seconds, so the server's bucket stays almost always
// drained: the achieved rate settles within a few percent of the limit.
const (
	decreaseFactor  = 0.95
	increasePerSec  = 0.02
	minIncreaseStep = 1.0
)

// adaptiveLimiter paces every attempt: multiplicative decrease on Throttling, additive
// increase on success, never above the target (--rate) nor below the floor.
//
// A throttle cuts the rate only if the throttled request was sent after the last cut
// (its epoch is current), so a burst of throttles from requests already in flight when
// the rate fell counts once, as TCP counts one loss per window.
type adaptiveLimiter struct {
	lim *rate.Limiter

	mu     sync.Mutex
	target float64
	floor  float64
	cur    float64
	epoch  uint64
	cuts   int
}

func newAdaptiveLimiter(target, floor float64, burst int) *adaptiveLimiter {
	if floor > target {
		floor = target
	}
	return &adaptiveLimiter{lim: rate.NewLimiter(rate.Limit(target), max(burst, 1)), target: target, floor: floor, cur: target}
}

// wait takes a token and returns the epoch the attempt is sent in.
func (a *adaptiveLimiter) wait(ctx context.Context) (uint64, error) {
	if err := a.lim.Wait(ctx); err != nil {
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.epoch, nil
}

func (a *adaptiveLimiter) throttled(epoch uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if epoch != a.epoch {
		return
	}
	a.epoch++
	a.cuts++
	a.cur = math.Max(a.floor, a.cur*decreaseFactor)
	a.lim.SetLimit(rate.Limit(a.cur))
}

func (a *adaptiveLimiter) succeeded() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur >= a.target {
		return
	}
	// Successes arrive at about cur per second, so this adds step per second.
	step := math.Max(minIncreaseStep, increasePerSec*a.cur)
	a.cur = math.Min(a.target, a.cur+step/a.cur)
	a.lim.SetLimit(rate.Limit(a.cur))
}

func (a *adaptiveLimiter) rate() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}
