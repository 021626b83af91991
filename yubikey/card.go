package yubikey

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/tokenbatch/tokenbatch/pcsc"
	"github.com/tokenbatch/tokenbatch/ykoath"
)

// virtualReaderNames are substrings of the reader names of virtual smart-card drivers
// (vsmartcard's vpcd, its virtualsmartcard, PC/SC relays). Their cards could answer as
// anything, so they are ignored unless the caller allows them.
var virtualReaderNames = []string{"virtual pcd", "vpcd", "virtual smart card", "virtual reader"}

// IsVirtualReader reports whether a reader belongs to a virtual smart-card driver.
func IsVirtualReader(name string) bool {
	n := strings.ToLower(name)
	for _, v := range virtualReaderNames {
		if strings.Contains(n, v) {
			return true
		}
	}
	return false
}

// card is one connection to a key, with a transaction around each read.
type card struct {
	ctx  *pcsc.Context
	c    *pcsc.Card
	name string
}

func openCard(reader string) (*card, error) {
	ctx, err := pcsc.EstablishContext()
	if err != nil {
		return nil, err
	}
	c, err := ctx.Connect(reader, pcsc.ShareShared)
	if err != nil {
		ctx.Release()
		return nil, err
	}
	return &card{ctx: ctx, c: c, name: reader}, nil
}

func (k *card) Transmit(cmd []byte) ([]byte, error) { return k.c.Transmit(cmd) }

func (k *card) close() {
	k.c.Disconnect(pcsc.LeaveCard)
	k.ctx.Release()
}

// inTransaction runs f with sole use of the card.
func (k *card) inTransaction(f func() error) error {
	if err := k.c.BeginTransaction(); err != nil {
		return err
	}
	err := f()
	if e := k.c.EndTransaction(pcsc.LeaveCard); err == nil && e != nil {
		err = e
	}
	return err
}

var aidManagement = []byte{0xA0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17}

var versionText = regexp.MustCompile(`(\d+)\.(\d+)\.(\d+)`)

// deviceInfo is what the Management applet says about a key.
type deviceInfo struct {
	Serial     uint32
	Version    string
	FormFactor byte
}

// readDeviceInfo selects the Management applet: its reply names the firmware version,
// and READ CONFIG (firmware 4.1 and later) gives the serial.
func readDeviceInfo(t ykoath.Transmitter) (deviceInfo, error) {
	var info deviceInfo
	resp, err := transmitOK(t, append([]byte{0x00, 0xA4, 0x04, 0x00, byte(len(aidManagement))}, aidManagement...))
	if err != nil {
		return info, ErrNotYubiKey
	}
	m := versionText.FindStringSubmatch(string(resp))
	if m == nil {
		return info, ErrNotYubiKey
	}
	info.Version = m[0]
	resp, err = transmitOK(t, []byte{0x00, 0x1D, 0x00, 0x00, 0x00})
	if err != nil || len(resp) < 1 {
		return info, nil // older keys: the serial comes from PIV
	}
	tags, vals, err := ykoath.ParseTLVs(resp[1:])
	if err != nil {
		return info, nil
	}
	for i, tag := range tags {
		switch v := vals[i]; tag {
		case 0x02:
			if len(v) == 4 {
				info.Serial = binary.BigEndian.Uint32(v)
			}
		case 0x04:
			if len(v) == 1 {
				info.FormFactor = v[0]
			}
		case 0x05:
			if len(v) == 3 {
				info.Version = fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
			}
		}
	}
	return info, nil
}

// transmitOK sends a command and follows GET RESPONSE chaining; any status but 9000 is
// an error.
func transmitOK(t ykoath.Transmitter, cmd []byte) ([]byte, error) {
	var out []byte
	for {
		resp, err := t.Transmit(cmd)
		if err != nil {
			return nil, err
		}
		if len(resp) < 2 {
			return nil, errors.New("reply without a status word")
		}
		sw1, sw2 := resp[len(resp)-2], resp[len(resp)-1]
		out = append(out, resp[:len(resp)-2]...)
		switch {
		case sw1 == 0x90 && sw2 == 0x00:
			return out, nil
		case sw1 == 0x61:
			cmd = []byte{0x00, 0xC0, 0x00, 0x00, 0x00}
		default:
			return nil, fmt.Errorf("status %02X%02X", sw1, sw2)
		}
	}
}

// PasswordFunc returns the OATH password of the key with the given serial. It is asked
// only for keys whose applet is password protected.
type PasswordFunc func(ctx context.Context, serial string) ([]byte, error)

// openOATH selects the OATH applet and unlocks it if needed.
func openOATH(ctx context.Context, t ykoath.Transmitter, serial string, password PasswordFunc) (*ykoath.Session, error) {
	s, err := ykoath.Select(t)
	if err != nil {
		return nil, err
	}
	if !s.Locked() {
		return s, nil
	}
	if password == nil {
		return nil, ErrPasswordNeeded
	}
	pw, err := password(ctx, serial)
	if err != nil {
		return nil, err
	}
	defer clear(pw)
	if len(pw) == 0 {
		return nil, ErrPasswordNeeded
	}
	if err := s.Validate(pw); err != nil {
		return nil, err
	}
	return s, nil
}

func serialString(s uint32) string { return strconv.FormatUint(uint64(s), 10) }
