package iamsim

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Clock is the simulator's time: the host's time plus an offset, or a frozen instant.
// TOTP checks, key and session expiry, enable dates, the Date header and the ledger use
// it. It is safe for concurrent use.
type Clock struct {
	state atomic.Pointer[clockState]
}

type clockState struct {
	offset time.Duration
	frozen bool
	at     time.Time
}

// NewClock returns a clock that starts at start and advances with the host's clock; a
// zero start means the host's time.
func NewClock(start time.Time) *Clock {
	c := &Clock{}
	c.Set(start)
	return c
}

// ParseClock parses the --clock flag: "now", an RFC 3339 time (the clock starts there
// and advances), or a signed Go duration such as "+90s" or "-2h" (an offset from the
// host's time).
func ParseClock(s string) (*Clock, error) {
	t, err := ParseTimeSpec(s, time.Now())
	if err != nil {
		return nil, err
	}
	if s == "" || s == "now" {
		return NewClock(time.Time{}), nil
	}
	return NewClock(t), nil
}

// ParseTimeSpec parses "now", an RFC 3339 time, or "+DURATION"/"-DURATION" relative to
// now.
func ParseTimeSpec(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "now":
		return now, nil
	case s[0] == '+' || s[0] == '-':
		d, err := time.ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("bad time %q: want now, an RFC 3339 time or +/-DURATION (e.g. +90s)", s)
		}
		if s[0] == '-' {
			d = -d
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: want now, an RFC 3339 time (2006-01-02T15:04:05Z) or +/-DURATION", s)
	}
	return t, nil
}

// Now returns the simulator's current time.
func (c *Clock) Now() time.Time {
	st := c.state.Load()
	if st.frozen {
		return st.at
	}
	return time.Now().Add(st.offset).Round(0)
}

// Set makes the clock read t now and advance from there; a zero t means the host's time.
func (c *Clock) Set(t time.Time) {
	st := &clockState{}
	if !t.IsZero() {
		st.offset = time.Until(t)
	}
	c.state.Store(st)
}

// Freeze stops the clock at t (a zero t: the current simulated time).
func (c *Clock) Freeze(t time.Time) {
	if t.IsZero() {
		t = c.Now()
	}
	c.state.Store(&clockState{frozen: true, at: t})
}

// Advance moves the clock by d, frozen or not.
func (c *Clock) Advance(d time.Duration) {
	for {
		old := c.state.Load()
		st := *old
		if st.frozen {
			st.at = st.at.Add(d)
		} else {
			st.offset += d
		}
		if c.state.CompareAndSwap(old, &st) {
			return
		}
	}
}
