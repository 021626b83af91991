// Package pcsc is a small binding to the PC/SC smart-card API through libpcsclite (on
// Linux, via pkg-config): establish a context, list readers, connect, begin and end a
// transaction, transmit, wait for a status change, cancel.
//
// It is our own rather than a third-party module because no maintained Go PC/SC module
// is available here, and the pure-Go client speaks pcscd's private socket protocol,
// which changes between pcsc-lite releases. libpcsclite is the stable interface and
// piv-go links it already.
//
// Everything that calls libpcsclite needs cgo. Without cgo the package still compiles,
// and EstablishContext returns ErrNotBuilt.
package pcsc

import (
	"errors"
	"fmt"
)

// ErrNotBuilt is returned by every call when tokenbatch was built without cgo.
var ErrNotBuilt = errors.New("smart-card support was not built in (tokenbatch was built without cgo)")

// Sentinel errors for the PC/SC return codes callers act on. An *Error matches them
// with errors.Is.
var (
	ErrNoService        = errors.New("the smart-card service (pcscd) is not running")
	ErrNoReaders        = errors.New("no smart-card readers are available")
	ErrTimeout          = errors.New("timed out waiting for a smart-card event")
	ErrCancelled        = errors.New("the smart-card call was cancelled")
	ErrNoSmartcard      = errors.New("no smart card in the reader")
	ErrRemovedCard      = errors.New("the smart card was removed")
	ErrResetCard        = errors.New("the smart card was reset")
	ErrSharingViolation = errors.New("the smart card is in use by another program")
	ErrUnknownReader    = errors.New("no such smart-card reader")
)

// Error is a PC/SC return code from a named call.
type Error struct {
	Op   string // e.g. "SCardConnect"
	Code uint32 // the SCARD_* return code
}

func (e *Error) Error() string {
	msg := codeText[e.Code]
	if msg == "" {
		msg = "unexpected return code"
	}
	s := fmt.Sprintf("%s: %s (0x%08x)", lowerOp(e.Op), msg, e.Code)
	if e.Code == codeNoService {
		s += "; start pcscd (e.g. 'pcscd -f') or check that its socket is reachable"
	}
	return s
}

// Is maps return codes to the package's sentinel errors.
func (e *Error) Is(target error) bool {
	s, ok := codeSentinel[e.Code]
	return ok && s == target
}

func lowerOp(op string) string {
	if op == "" {
		return "pc/sc"
	}
	return "pc/sc " + op
}

// PC/SC return codes, from pcsclite.h. They are the same on every platform.
const (
	codeCancelled        = 0x80100002
	codeInvalidHandle    = 0x80100003
	codeTimeout          = 0x8010000A
	codeSharingViolation = 0x8010000B
	codeNoSmartcard      = 0x8010000C
	codeUnknownReader    = 0x80100009
	codeNoService        = 0x8010001D
	codeNoReaders        = 0x8010002E
	codeRemovedCard      = 0x80100069
	codeResetCard        = 0x80100068
	codeUnpoweredCard    = 0x80100067
	codeUnresponsiveCard = 0x80100066
	codeNotTransacted    = 0x80100016
	codeReaderUnavail    = 0x80100017
	codeInsufficientBuf  = 0x80100008
	codeProtoMismatch    = 0x8010000F
)

var codeText = map[uint32]string{
	codeCancelled:        "cancelled",
	codeInvalidHandle:    "invalid handle",
	codeTimeout:          "timed out",
	codeSharingViolation: "card in use by another program",
	codeNoSmartcard:      "no smart card in the reader",
	codeUnknownReader:    "unknown reader",
	codeNoService:        "the pcscd service is not running",
	codeNoReaders:        "no readers available",
	codeRemovedCard:      "card removed",
	codeResetCard:        "card reset",
	codeUnpoweredCard:    "card not powered",
	codeUnresponsiveCard: "card does not respond",
	codeNotTransacted:    "transaction failed",
	codeReaderUnavail:    "reader unavailable",
	codeInsufficientBuf:  "response larger than the buffer",
	codeProtoMismatch:    "protocol mismatch",
}

var codeSentinel = map[uint32]error{
	codeNoService:        ErrNoService,
	codeNoReaders:        ErrNoReaders,
	codeTimeout:          ErrTimeout,
	codeCancelled:        ErrCancelled,
	codeNoSmartcard:      ErrNoSmartcard,
	codeRemovedCard:      ErrRemovedCard,
	codeResetCard:        ErrResetCard,
	codeSharingViolation: ErrSharingViolation,
	codeUnknownReader:    ErrUnknownReader,
}

// ShareMode says whether other programs may use the card while we hold it.
type ShareMode uint32

const (
	ShareExclusive ShareMode = 1
	ShareShared    ShareMode = 2
)

// Disposition says what happens to the card when it is released.
type Disposition uint32

const (
	LeaveCard   Disposition = 0
	ResetCard   Disposition = 1
	UnpowerCard Disposition = 2
)

// State flags of a reader (SCARD_STATE_*).
const (
	StateUnaware     uint32 = 0x0000
	StateIgnore      uint32 = 0x0001
	StateChanged     uint32 = 0x0002
	StateUnknown     uint32 = 0x0004
	StateUnavailable uint32 = 0x0008
	StateEmpty       uint32 = 0x0010
	StatePresent     uint32 = 0x0020
	StateExclusive   uint32 = 0x0080
	StateInUse       uint32 = 0x0100
	StateMute        uint32 = 0x0200
)

// PnPNotification is the pseudo-reader whose state changes when a reader is added or
// removed.
const PnPNotification = `\\?PnP?\Notification`

// ReaderState is one reader watched by GetStatusChange.
type ReaderState struct {
	Reader       string
	CurrentState uint32 // what the caller knows; StateUnaware to learn the state
	EventState   uint32 // set by GetStatusChange
	ATR          []byte // set by GetStatusChange when a card is present
}
