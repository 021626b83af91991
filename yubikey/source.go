package yubikey

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tokenbatch/tokenbatch/executor"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/ykoath"
)

// Source computes codes from the attached keys when the executor asks (it implements
// executor.CodeSource). For each key and 30-second step it reads once: SELECT,
// VALIDATE if needed, CALCULATE ALL for T-1 and for T, in one transaction; that read
// serves every device on the key for that step. Touch credentials are read alone, each
// code after a prompt.
type Source struct {
	opts Options
	keys map[string]*keyState
}

var _ executor.CodeSource = (*Source)(nil)

// keyState is one key's connection and its codes for the last step read. sem (a
// one-slot channel) serialises the key's reads: one goroutine talks to a card at a time.
type keyState struct {
	key  *Key
	sem  chan struct{}
	card *card
	pw   []byte // the password that worked, so a protected key is asked once

	step  uint64
	codes map[string][2]ykoath.Code // for steps T-1 and T
}

// NewSource serves codes from keys (from ListKeys).
func NewSource(keys []*Key, opts Options) *Source {
	s := &Source{opts: opts, keys: map[string]*keyState{}}
	for _, k := range keys {
		s.keys[k.SerialString()] = &keyState{key: k, sem: make(chan struct{}, 1), pw: k.password}
	}
	return s
}

// NeedsTouch reports whether d's codes need a touch of its key: the executor should run
// such devices last and not hold a rate token while waiting.
func (s *Source) NeedsTouch(d plan.Device) bool {
	if d.Token == nil {
		return false
	}
	ks := s.keys[d.Token.Serial]
	return ks != nil && ks.key.Touch[d.Token.Credential]
}

// Close releases the keys' connections.
func (s *Source) Close() error {
	for _, ks := range s.keys {
		ks.sem <- struct{}{}
		if ks.card != nil {
			ks.card.close()
			ks.card = nil
		}
		clear(ks.pw)
		<-ks.sem
	}
	return nil
}

// Codes returns the codes of d's credential for the time steps T-1 and T, T being the
// credential's step (30 s for AWS) of now, which should be IAM's clock.
func (s *Source) Codes(ctx context.Context, d plan.Device, now time.Time) (string, string, error) {
	if d.Token == nil || d.Token.Kind != "yubikey" {
		return "", "", errors.New("device has no yubikey token")
	}
	ks := s.keys[d.Token.Serial]
	if ks == nil {
		return "", "", &KeyError{Serial: d.Token.Serial, Err: ErrKeyNotFound}
	}
	name := d.Token.Credential
	period, _, _ := ykoath.ParseName(name)
	step := ykoath.TimeStep(now, period)
	if step == 0 {
		return "", "", errors.New("time step 0 has no previous step")
	}
	wrap := func(err error) error {
		if errors.Is(err, ykoath.ErrTouchTimeout) && !errors.Is(err, ErrTouchTimeout) {
			err = fmt.Errorf("%w (%w)", ErrTouchTimeout, err)
		}
		return &CredentialError{Serial: d.Token.Serial, Credential: name, Err: err}
	}
	if ks.key.Touch[name] {
		c1, c2, err := s.touchCodes(ctx, ks, name, step)
		if err != nil {
			return "", "", wrap(err)
		}
		return c1.Value(), c2.Value(), nil
	}
	if err := acquire(ctx, ks); err != nil {
		return "", "", wrap(err)
	}
	defer release(ks)
	if period != 30 {
		var c [2]ykoath.Code
		err := s.read(ctx, ks, func(o *ykoath.Session) (err error) {
			if c[0], err = o.Calculate(name, step-1); err != nil {
				return err
			}
			c[1], err = o.Calculate(name, step)
			return err
		})
		if err != nil {
			return "", "", wrap(err)
		}
		return c[0].Value(), c[1].Value(), nil
	}
	if ks.codes == nil || ks.step != step {
		codes := map[string][2]ykoath.Code{}
		err := s.read(ctx, ks, func(o *ykoath.Session) error {
			for i, st := range []uint64{step - 1, step} {
				res, err := o.CalculateAll(st)
				if err != nil {
					return err
				}
				for _, r := range res {
					if r.Code != "" {
						c := codes[r.Name]
						c[i] = r.Code
						codes[r.Name] = c
					}
				}
			}
			return nil
		})
		if err != nil {
			return "", "", wrap(err)
		}
		ks.step, ks.codes = step, codes
	}
	c, ok := ks.codes[name]
	if !ok || c[0] == "" || c[1] == "" {
		return "", "", wrap(ErrNoCredential)
	}
	return c[0].Value(), c[1].Value(), nil
}

func acquire(ctx context.Context, ks *keyState) error {
	select {
	case ks.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release(ks *keyState) { <-ks.sem }

// read runs f on the key's OATH applet in one transaction, reconnecting once if the
// connection went stale (the card was reset or re-plugged). The caller holds ks.sem.
func (s *Source) read(ctx context.Context, ks *keyState, f func(*ykoath.Session) error) error {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if ks.card == nil {
			if ks.card, err = openCard(ks.key.Reader); err != nil {
				ks.card = nil
				continue
			}
		}
		err = ks.card.inTransaction(func() error {
			o, err := openOATH(ctx, ks.card, ks.key.SerialString(), s.password(ks))
			if err != nil {
				return err
			}
			return f(o)
		})
		if err == nil || isApplicationError(err) {
			return err
		}
		ks.card.close()
		ks.card = nil
	}
	return fmt.Errorf("%w: %w", ErrKeyUnavailable, err)
}

// isApplicationError tells errors of the applet (wrong password, no such credential)
// from those of the connection, which a reconnect may cure.
func isApplicationError(err error) bool {
	var se *ykoath.StatusError
	return errors.As(err, &se) || errors.Is(err, ykoath.ErrWrongPassword) || errors.Is(err, ykoath.ErrLocked) ||
		errors.Is(err, ErrPasswordNeeded) || errors.Is(err, ykoath.ErrKeyResponse) || errors.Is(err, ykoath.ErrTouchTimeout)
}

// password asks opts.Password once per key and keeps what it gave.
func (s *Source) password(ks *keyState) PasswordFunc {
	return func(ctx context.Context, serial string) ([]byte, error) {
		if ks.pw == nil {
			if s.opts.Password == nil {
				return nil, ErrPasswordNeeded
			}
			pw, err := s.opts.Password(ctx, serial)
			if err != nil {
				return nil, err
			}
			ks.pw = pw
		}
		return append([]byte(nil), ks.pw...), nil
	}
}

// touchCodes computes a touch credential's two codes, each after a prompt naming the key
// and the credential. It gives up after the touch timeout; the card may still be
// waiting, so the key stays busy until it answers, while other keys go on.
func (s *Source) touchCodes(ctx context.Context, ks *keyState, name string, step uint64) (c1, c2 ykoath.Code, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*s.opts.touchTimeout())
	defer cancel()
	if err := acquire(ctx, ks); err != nil {
		return "", "", ErrTouchTimeout
	}
	prompt := s.opts.Prompt
	if prompt == nil {
		prompt = io.Discard
	}
	type result struct {
		c   [2]ykoath.Code
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer release(ks)
		var r result
		r.err = s.read(ctx, ks, func(o *ykoath.Session) (err error) {
			for i, st := range []uint64{step - 1, step} {
				fmt.Fprintf(prompt, "touch YubiKey %s to compute code %d of 2 for %q\n", ks.key.SerialString(), i+1, name)
				if r.c[i], err = o.Calculate(name, st); err != nil {
					return err
				}
			}
			return nil
		})
		done <- r
	}()
	timer := time.NewTimer(2 * s.opts.touchTimeout())
	defer timer.Stop()
	select {
	case r := <-done:
		return r.c[0], r.c[1], r.err
	case <-timer.C:
		return "", "", ErrTouchTimeout
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			return "", "", ErrTouchTimeout
		}
		return "", "", ctx.Err()
	}
}
