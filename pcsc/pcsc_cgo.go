//go:build cgo

package pcsc

// #cgo linux pkg-config: libpcsclite
// #cgo darwin LDFLAGS: -framework PCSC
// #cgo freebsd openbsd CFLAGS: -I/usr/local/include -I/usr/local/include/PCSC
// #cgo freebsd openbsd LDFLAGS: -L/usr/local/lib -lpcsclite
// #include <stdlib.h>
// #include <string.h>
// #include <PCSC/winscard.h>
// #include <PCSC/wintypes.h>
//
// // pciFor returns the protocol control information for the negotiated protocol;
// // the SCARD_PCI_* macros are addresses of library globals, not constants.
// static const SCARD_IO_REQUEST *pciFor(DWORD proto) {
//   return proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
// }
import "C"

import (
	"bytes"
	"time"
	"unsafe"
)

// Context is a connection to the smart-card service. pcsc-lite serialises the calls of
// one context, so use one context per goroutine that blocks (GetStatusChange) and
// cancel it with Cancel from another goroutine.
type Context struct {
	ctx C.SCARDCONTEXT
}

func check(op string, rc C.LONG) error {
	if rc == C.SCARD_S_SUCCESS {
		return nil
	}
	return &Error{Op: op, Code: uint32(rc)}
}

// EstablishContext connects to the smart-card service. Without a running pcscd it
// returns an error that matches ErrNoService.
func EstablishContext() (*Context, error) {
	var ctx C.SCARDCONTEXT
	if err := check("SCardEstablishContext", C.SCardEstablishContext(C.SCARD_SCOPE_SYSTEM, nil, nil, &ctx)); err != nil {
		return nil, err
	}
	return &Context{ctx: ctx}, nil
}

// Release closes the context.
func (c *Context) Release() error {
	return check("SCardReleaseContext", C.SCardReleaseContext(c.ctx))
}

// ListReaders returns the names of the attached readers; none is not an error.
func (c *Context) ListReaders() ([]string, error) {
	var n C.DWORD
	rc := C.SCardListReaders(c.ctx, nil, nil, &n)
	if uint32(rc) == codeNoReaders {
		return nil, nil
	}
	if err := check("SCardListReaders", rc); err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	rc = C.SCardListReaders(c.ctx, nil, (*C.char)(unsafe.Pointer(&buf[0])), &n)
	if uint32(rc) == codeNoReaders {
		return nil, nil
	}
	if err := check("SCardListReaders", rc); err != nil {
		return nil, err
	}
	var names []string
	for _, b := range bytes.Split(buf[:n], []byte{0}) {
		if len(b) > 0 {
			names = append(names, string(b))
		}
	}
	return names, nil
}

// Card is a connection to the card in one reader.
type Card struct {
	h     C.SCARDHANDLE
	proto C.DWORD
	buf   []byte
}

// Connect connects to the card in reader with T=0 or T=1, whichever the card offers.
func (c *Context) Connect(reader string, mode ShareMode) (*Card, error) {
	name := C.CString(reader)
	defer C.free(unsafe.Pointer(name))
	var h C.SCARDHANDLE
	var proto C.DWORD
	rc := C.SCardConnect(c.ctx, name, C.DWORD(mode), C.SCARD_PROTOCOL_T0|C.SCARD_PROTOCOL_T1, &h, &proto)
	if err := check("SCardConnect", rc); err != nil {
		return nil, err
	}
	return &Card{h: h, proto: proto}, nil
}

// BeginTransaction gives this connection sole use of the card until EndTransaction, so
// that no other program re-selects an applet between our commands.
func (k *Card) BeginTransaction() error {
	return check("SCardBeginTransaction", C.SCardBeginTransaction(k.h))
}

// EndTransaction ends the transaction; d says what happens to the card.
func (k *Card) EndTransaction(d Disposition) error {
	return check("SCardEndTransaction", C.SCardEndTransaction(k.h, C.DWORD(d)))
}

// Transmit sends a command APDU and returns the response APDU, status word included.
func (k *Card) Transmit(cmd []byte) ([]byte, error) {
	if len(cmd) == 0 {
		return nil, &Error{Op: "SCardTransmit", Code: codeInsufficientBuf}
	}
	if k.buf == nil {
		k.buf = make([]byte, C.MAX_BUFFER_SIZE_EXTENDED)
	}
	in := C.CBytes(cmd) // C memory: the call may outlive Go's pointer rules on long waits
	defer C.free(in)
	n := C.DWORD(len(k.buf))
	out := C.malloc(C.size_t(len(k.buf)))
	defer C.free(out)
	rc := C.SCardTransmit(k.h, C.pciFor(k.proto), (*C.BYTE)(in), C.DWORD(len(cmd)), nil, (*C.BYTE)(out), &n)
	if err := check("SCardTransmit", rc); err != nil {
		return nil, err
	}
	return C.GoBytes(out, C.int(n)), nil
}

// Status returns the card's ATR.
func (k *Card) Status() (atr []byte, err error) {
	var state, proto C.DWORD
	var atrBuf [C.MAX_ATR_SIZE]C.BYTE
	atrLen := C.DWORD(len(atrBuf))
	var readerLen C.DWORD
	rc := C.SCardStatus(k.h, nil, &readerLen, &state, &proto, &atrBuf[0], &atrLen)
	if err := check("SCardStatus", rc); err != nil {
		return nil, err
	}
	return C.GoBytes(unsafe.Pointer(&atrBuf[0]), C.int(atrLen)), nil
}

// Disconnect releases the card; d says what happens to it.
func (k *Card) Disconnect(d Disposition) error {
	return check("SCardDisconnect", C.SCardDisconnect(k.h, C.DWORD(d)))
}

// GetStatusChange waits until the state of one of the readers differs from its
// CurrentState, or timeout passes (ErrTimeout), or Cancel is called (ErrCancelled). A
// negative timeout waits forever. EventState and ATR are updated in place.
func (c *Context) GetStatusChange(states []ReaderState, timeout time.Duration) error {
	if len(states) == 0 {
		return nil
	}
	n := len(states)
	size := C.size_t(unsafe.Sizeof(C.SCARD_READERSTATE{}))
	arr := (*C.SCARD_READERSTATE)(C.calloc(C.size_t(n), size))
	defer C.free(unsafe.Pointer(arr))
	rs := unsafe.Slice(arr, n)
	for i, s := range states {
		rs[i].szReader = C.CString(s.Reader)
		rs[i].dwCurrentState = C.DWORD(s.CurrentState)
	}
	defer func() {
		for i := range rs {
			C.free(unsafe.Pointer(rs[i].szReader))
		}
	}()
	ms := C.DWORD(C.INFINITE)
	if timeout >= 0 {
		ms = C.DWORD(timeout / time.Millisecond)
	}
	rc := C.SCardGetStatusChange(c.ctx, ms, arr, C.DWORD(n))
	if err := check("SCardGetStatusChange", rc); err != nil {
		return err
	}
	for i := range states {
		states[i].EventState = uint32(rs[i].dwEventState)
		states[i].ATR = C.GoBytes(unsafe.Pointer(&rs[i].rgbAtr[0]), C.int(rs[i].cbAtr))
	}
	return nil
}

// Cancel ends a GetStatusChange blocked on this context.
func (c *Context) Cancel() error {
	return check("SCardCancel", C.SCardCancel(c.ctx))
}
