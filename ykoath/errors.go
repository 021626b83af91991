package ykoath

import (
	"errors"
	"fmt"
)

// Status words.
const (
	swOK           = 0x9000
	swAuthRequired = 0x6982
	swNoSuchObject = 0x6984
	swWrongSyntax  = 0x6A80
	swNotFound     = 0x6A82
	swNoSpace      = 0x6A84
)

// Sentinel errors. A *StatusError matches the one of its status word with errors.Is.
var (
	ErrLocked        = errors.New("the oath applet is password protected; give the password with --oath-password or at the prompt")
	ErrWrongPassword = errors.New("wrong oath password for this key (check --oath-password)")
	ErrKeyResponse   = errors.New("the key's reply to the password check is wrong; it may not be the key it claims to be")
	ErrTouchTimeout  = errors.New("touch timed out: the key was not touched in time")
	ErrNoSuchObject  = errors.New("no such credential on the key")
	ErrWrongSyntax   = errors.New("the key rejected the command as malformed")
	ErrNoSpace       = errors.New("no space left on the key for another credential")
	ErrNotFound      = errors.New("the key has no oath applet")
	ErrAuthRequired  = errors.New("the key requires authentication or a touch")
)

// StatusError is a status word other than success from a command.
type StatusError struct {
	Op string
	SW uint16
}

func (e *StatusError) Error() string {
	msg := "unexpected status"
	if s := sentinelFor(e.SW); s != nil {
		msg = s.Error()
	}
	return fmt.Sprintf("oath %s: %s (status %04X)", e.Op, msg, e.SW)
}

// Is matches the sentinel error of the status word.
func (e *StatusError) Is(target error) bool {
	s := sentinelFor(e.SW)
	return s != nil && s == target
}

func sentinelFor(sw uint16) error {
	switch sw {
	case swAuthRequired:
		return ErrAuthRequired
	case swNoSuchObject:
		return ErrNoSuchObject
	case swWrongSyntax:
		return ErrWrongSyntax
	case swNotFound:
		return ErrNotFound
	case swNoSpace:
		return ErrNoSpace
	}
	return nil
}
