// Package vyubikey is a virtual YubiKey 5 for tests and the demo. It connects, as a
// virtual card, to vsmartcard's vpcd driver under a real pcscd, so every client (ykman,
// piv-go, tokenbatch) reaches it through the ordinary PC/SC stack. It answers the
// Management applet (version, device info with serial), the OATH applet (SELECT,
// VALIDATE, LIST, CALCULATE ALL, CALCULATE, PUT, DELETE, SET CODE, RESET, SEND
// REMAINING chaining, simulated touch) and the PIV applet (SELECT, version, serial, a
// slot key with an attestation certificate from a test CA, ATTEST, signing).
//
// Applet state (selection, an unlocked password) is reset on power off and reset, as on
// a real key; credentials and the password persist until Close.
package vyubikey

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenbatch/tokenbatch/ykoath"
)

// vpcd's two slots listen on these ports; the readers are named after the slot.
const (
	Port0 = 35963
	Port1 = 35964
)

// ReaderName returns the name pcscd gives the vpcd reader served on port.
func ReaderName(port int) string {
	return fmt.Sprintf("Virtual PCD 00 %02d", port-Port0)
}

// ATR is a real YubiKey 5's answer to reset.
var ATR = []byte{0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40}

// Credential is an OATH credential loaded on the key.
type Credential struct {
	Name      string // the credential id, [period/][issuer:]account
	Secret    []byte
	Type      ykoath.Type      // TOTP if 0
	Algorithm ykoath.Algorithm // SHA1 if 0
	Digits    int              // 6 if 0
	Touch     bool             // codes need a touch
	Counter   uint32           // HOTP counter
}

// Config describes a virtual key.
type Config struct {
	Serial      uint32
	Version     [3]byte // 5.4.3 if zero
	Password    string  // OATH password; empty for none
	Credentials []Credential

	// TouchAfter is when the simulated user touches the key once a touch credential
	// asks; negative means never, and the key answers "touch timed out" after
	// TouchTimeout (15 s if 0, as a real key).
	TouchAfter   time.Duration
	TouchTimeout time.Duration

	// CA signs the key's PIV attestation certificate; nil makes a new one (see Key.CA).
	CA *CA
	// NoPIVKey leaves every PIV slot empty, as on a new key.
	NoPIVKey bool
}

// Stats counts the commands a key answered, for tests and the benchmark.
type Stats struct {
	CalculateAll  int
	Calculate     int
	SendRemaining int
	Validate      int
	Touches       int // touch requests
}

// Key is a running virtual key.
type Key struct {
	cfg     Config
	port    int
	ca      *CA
	cancel  context.CancelFunc
	done    chan struct{}
	started bool

	mu    sync.Mutex
	conn  net.Conn
	stats Stats

	oath *oathApplet
	piv  *pivApplet

	// per power cycle
	selected   applet
	pending    []byte // response bytes not yet sent (61xx chaining)
	chain      []byte // command data of a chained command (CLA 0x10)
	connected  atomic.Bool
	connectErr chan error
}

type applet int

const (
	appletNone applet = iota
	appletMgmt
	appletOATH
	appletPIV
)

// ErrNoDriver means vpcd did not accept a connection: pcscd is not running with the
// vpcd driver, or the port is wrong.
var ErrNoDriver = errors.New("vpcd is not listening (start pcscd with the vsmartcard-vpcd driver)")

// New makes a virtual key that is not connected to vpcd: tests can drive it in process
// through Transmit.
func New(cfg Config) (*Key, error) {
	if cfg.Version == [3]byte{} {
		cfg.Version = [3]byte{5, 4, 3}
	}
	if cfg.TouchTimeout == 0 {
		cfg.TouchTimeout = 15 * time.Second
	}
	ca := cfg.CA
	if ca == nil {
		var err error
		if ca, err = NewCA("tokenbatch virtual YubiKey test CA"); err != nil {
			return nil, err
		}
	}
	k := &Key{cfg: cfg, ca: ca, done: make(chan struct{}), connectErr: make(chan error, 1), cancel: func() {}}
	var err error
	if k.oath, err = newOATH(cfg); err != nil {
		return nil, err
	}
	if k.piv, err = newPIV(cfg, ca); err != nil {
		return nil, err
	}
	return k, nil
}

// Transmit answers one command APDU in process, as the key would over vpcd.
func (k *Key) Transmit(cmd []byte) ([]byte, error) {
	return k.handle(context.Background(), cmd), nil
}

// PowerCycle resets the applets' volatile state, as pcscd's power off and on does.
func (k *Key) PowerCycle() { k.powerCycle() }

// Start connects a virtual key to vpcd on 127.0.0.1:port and serves it until ctx ends
// or Close is called. It returns once connected, or ErrNoDriver after a few seconds.
func Start(ctx context.Context, port int, cfg Config) (*Key, error) {
	k, err := New(cfg)
	if err != nil {
		return nil, err
	}
	k.port = port
	k.started = true
	ctx, k.cancel = context.WithCancel(ctx)
	go k.run(ctx)
	select {
	case err := <-k.connectErr:
		if err != nil {
			k.Close()
			return nil, err
		}
	case <-ctx.Done():
		k.Close()
		return nil, ctx.Err()
	}
	return k, nil
}

// Reader is the name of the PC/SC reader this key sits in.
func (k *Key) Reader() string { return ReaderName(k.port) }

// Serial is the key's serial number.
func (k *Key) Serial() uint32 { return k.cfg.Serial }

// CA is the CA that signed the key's attestation certificate.
func (k *Key) CA() *CA { return k.ca }

// SlotKey is the private key in PIV slot 9e, or nil.
func (k *Key) SlotKey() *ecdsa.PrivateKey { return k.piv.slot9e }

// Stats returns the command counts so far.
func (k *Key) Stats() Stats {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stats
}

// Close disconnects the key (the reader becomes empty) and waits for it to stop.
func (k *Key) Close() error {
	if !k.started {
		return nil
	}
	k.cancel()
	k.mu.Lock()
	if k.conn != nil {
		k.conn.Close()
	}
	k.mu.Unlock()
	<-k.done
	return nil
}

// Connected reports whether the key is in its reader now (vpcd may drop it when pcscd
// restarts; it then reconnects).
func (k *Key) Connected() bool { return k.connected.Load() }

// Done is closed when the key has stopped.
func (k *Key) Done() <-chan struct{} { return k.done }

func (k *Key) run(ctx context.Context) {
	defer close(k.done)
	first := true
	deadline := time.Now().Add(5 * time.Second)
	for ctx.Err() == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port)))
		if err != nil {
			if first && time.Now().After(deadline) {
				k.connectErr <- fmt.Errorf("connecting to vpcd on port %d: %w", k.port, ErrNoDriver)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		k.mu.Lock()
		k.conn = conn
		k.mu.Unlock()
		if first {
			first = false
			k.connectErr <- nil
		}
		k.connected.Store(true)
		k.serve(ctx, conn) // ends when vpcd or we close the connection
		k.connected.Store(false)
		conn.Close()
		// pcscd restarted or vpcd dropped us: reconnect, like vsmartcard's vicc.
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if first {
		k.connectErr <- ctx.Err()
	}
}

// serve answers vpcd's messages: 2-byte big-endian length, then data. The driver writes
// length and payload separately, so read each with io.ReadFull.
func (k *Key) serve(ctx context.Context, conn net.Conn) error {
	var hdr [2]byte
	for {
		quickAck(conn)
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return err
		}
		msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		quickAck(conn)
		if _, err := io.ReadFull(conn, msg); err != nil {
			return err
		}
		var reply []byte
		if len(msg) == 1 {
			switch msg[0] {
			case 0x00: // power off
				k.powerCycle()
			case 0x01: // power on
				k.powerCycle()
			case 0x02: // reset
				k.powerCycle()
			case 0x04: // get ATR
				reply = ATR
			}
			if reply == nil {
				continue
			}
		} else {
			reply = k.handle(ctx, msg)
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(reply)))
		out = append(out, reply...)
		if _, err := conn.Write(out); err != nil {
			return err
		}
	}
}

// powerCycle resets the volatile state of every applet.
func (k *Key) powerCycle() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.selected = appletNone
	k.pending = nil
	k.chain = nil
	k.oath.reset()
	k.piv.reset()
}

// Status words.
const (
	swOK            = 0x9000
	swAuthRequired  = 0x6982
	swNoSuchObject  = 0x6984
	swWrongData     = 0x6A80
	swNotFound      = 0x6A82
	swNoSpace       = 0x6A84
	swWrongP1P2     = 0x6A86
	swInsNotSupp    = 0x6D00
	swClaNotSupp    = 0x6E00
	swWrongLength   = 0x6700
	swVerifyFailed  = 0x63C0
	swCondNotSatisf = 0x6985
)

type command struct {
	cla, ins, p1, p2 byte
	data             []byte
}

func parseCommand(b []byte) (command, bool) {
	if len(b) < 4 {
		return command{}, false
	}
	c := command{cla: b[0], ins: b[1], p1: b[2], p2: b[3]}
	rest := b[4:]
	switch {
	case len(rest) <= 1: // case 1 or 2 (Le only)
	case rest[0] == 0 && len(rest) >= 3: // extended length
		n := int(rest[1])<<8 | int(rest[2])
		if len(rest) < 3+n {
			return command{}, false
		}
		c.data = rest[3 : 3+n]
	default:
		n := int(rest[0])
		if len(rest) < 1+n {
			return command{}, false
		}
		c.data = rest[1 : 1+n]
	}
	return c, true
}

func sw(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

// handle answers one command APDU.
func (k *Key) handle(ctx context.Context, raw []byte) []byte {
	c, ok := parseCommand(raw)
	if !ok {
		return sw(swWrongLength)
	}
	k.mu.Lock()
	// Response chaining: SEND REMAINING (OATH) and GET RESPONSE (ISO) both continue.
	if (c.ins == 0xA5 && k.selected == appletOATH) || c.ins == 0xC0 {
		k.stats.SendRemaining++
		out := k.nextChunkLocked()
		k.mu.Unlock()
		return out
	}
	k.pending = nil
	if c.cla&0x10 != 0 { // command chaining: keep the data until the last part
		k.chain = append(k.chain, c.data...)
		k.mu.Unlock()
		return sw(swOK)
	}
	if k.chain != nil {
		c.data = append(k.chain, c.data...)
		k.chain = nil
	}
	if c.ins == 0xA4 && c.p1 == 0x04 {
		data, status := k.selectLocked(c.data)
		k.pending = data
		out := k.nextChunkLockedStatus(status)
		k.mu.Unlock()
		return out
	}
	sel := k.selected
	k.mu.Unlock()

	var data []byte
	var status uint16
	switch sel {
	case appletMgmt:
		data, status = k.mgmt(c)
	case appletOATH:
		data, status = k.oath.handle(ctx, k, c)
	case appletPIV:
		data, status = k.piv.handle(c)
	default:
		status = swNotFound
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pending = data
	return k.nextChunkLockedStatus(status)
}

var (
	aidMgmt = []byte{0xA0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17}
	aidPIV  = []byte{0xA0, 0x00, 0x00, 0x03, 0x08}
)

func hasPrefix(aid, prefix []byte) bool {
	return len(aid) >= len(prefix) && string(aid[:len(prefix)]) == string(prefix)
}

func (k *Key) selectLocked(aid []byte) ([]byte, uint16) {
	switch {
	case hasPrefix(aid, aidMgmt) && len(aid) >= 5:
		k.selected = appletMgmt
		v := k.cfg.Version
		return []byte(fmt.Sprintf("Virtual mgr - FW version %d.%d.%d", v[0], v[1], v[2])), swOK
	case hasPrefix(aid, ykoath.AID):
		k.selected = appletOATH
		return k.oath.selectReply(k.cfg.Version), swOK
	case hasPrefix(aid, aidPIV):
		k.selected = appletPIV
		// Application property template, as a real key answers.
		return []byte{0x61, 0x11, 0x4F, 0x06, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x79, 0x07, 0x4F, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08}, swOK
	}
	k.selected = appletNone
	return nil, swNotFound
}

// nextChunkLocked sends up to 255 bytes of the pending response; 61xx says more follow.
func (k *Key) nextChunkLocked() []byte { return k.nextChunkLockedStatus(swOK) }

func (k *Key) nextChunkLockedStatus(status uint16) []byte {
	if status != swOK {
		k.pending = nil
		return sw(status)
	}
	const max = 0xFF
	if len(k.pending) <= max {
		out := append(k.pending, sw(swOK)...)
		k.pending = nil
		return out
	}
	out := append([]byte(nil), k.pending[:max]...)
	k.pending = k.pending[max:]
	left := len(k.pending)
	if left > 0xFF {
		left = 0 // 6100: 256 or more
	}
	return append(out, 0x61, byte(left))
}

// Capabilities announced by the Management applet: OTP, U2F, OpenPGP, PIV, OATH, FIDO2.
const capabilities = 0x023B

// mgmt answers the Management applet: READ CONFIG gives the device info.
func (k *Key) mgmt(c command) ([]byte, uint16) {
	if c.ins != 0x1D {
		return nil, swInsNotSupp
	}
	v := k.cfg.Version
	var info []byte
	info = append(info, ykoath.TLV(0x01, []byte{capabilities >> 8, capabilities & 0xFF})...)
	info = append(info, ykoath.TLV(0x02, binary.BigEndian.AppendUint32(nil, k.cfg.Serial))...)
	info = append(info, ykoath.TLV(0x03, []byte{capabilities >> 8, capabilities & 0xFF})...)
	info = append(info, ykoath.TLV(0x04, []byte{0x01})...) // USB-A keychain
	info = append(info, ykoath.TLV(0x05, v[:])...)
	info = append(info, ykoath.TLV(0x0A, []byte{0x00})...) // config not locked
	return append([]byte{byte(len(info))}, info...), swOK
}
