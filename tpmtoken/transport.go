package tpmtoken

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// DefaultDevice is the kernel's TPM resource manager, which flushes what a crashed
// process leaves behind and lets several processes share the TPM.
const DefaultDevice = "/dev/tpmrm0"

// commandTimeout bounds one TPM command on a socket; real TPMs take milliseconds,
// so a minute only trips on a hung peer. The first command gets firstTimeout: swtpm
// accepts a second connection but serves it only after the first closes.
const (
	commandTimeout = time.Minute
	firstTimeout   = 5 * time.Second
)

// OpenTransport connects to a TPM at addr: "" or a device path (default
// /dev/tpmrm0), "tcp://HOST:PORT" or "unix:PATH" (swtpm's command channel).
func OpenTransport(addr string) (transport.TPMCloser, error) {
	network, target, err := parseAddress(addr)
	if err != nil {
		return nil, err
	}
	if network == "device" {
		t, err := linuxtpm.Open(target)
		if err != nil {
			return nil, fmt.Errorf("%w at %s: %w (check that the tpm exists and that you are in the group that owns it, usually tss; or use --tpm tcp://HOST:PORT or --tpm unix:PATH)", ErrOpen, target, unwrapPath(err))
		}
		return t, nil
	}
	conn, err := net.DialTimeout(network, target, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %w (is swtpm running with its command channel there?)", ErrOpen, addr, err)
	}
	return &streamTPM{conn: conn}, nil
}

func parseAddress(addr string) (network, target string, err error) {
	switch {
	case addr == "":
		return "device", DefaultDevice, nil
	case strings.HasPrefix(addr, "tcp://"):
		hp := strings.TrimPrefix(addr, "tcp://")
		if _, _, err := net.SplitHostPort(hp); err != nil {
			return "", "", fmt.Errorf("%w %q: %v; use tcp://HOST:PORT", ErrAddress, addr, err)
		}
		return "tcp", hp, nil
	case strings.HasPrefix(addr, "unix:"):
		p := strings.TrimPrefix(strings.TrimPrefix(addr, "unix:"), "//")
		if p == "" {
			return "", "", fmt.Errorf("%w %q: use unix:PATH", ErrAddress, addr)
		}
		return "unix", p, nil
	case strings.HasPrefix(addr, "/"):
		return "device", addr, nil
	}
	return "", "", fmt.Errorf("%w %q: use a device path such as %s, tcp://HOST:PORT or unix:PATH", ErrAddress, addr, DefaultDevice)
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// streamTPM frames TPM commands on a stream socket. go-tpm's own wrapper reads a
// response with a single Read, which a stream may split; this reads the header and
// then exactly the size it announces.
type streamTPM struct {
	conn     net.Conn
	answered bool // a response has come: the peer is a TPM that serves us
}

const (
	headerSize  = 10
	maxResponse = 64 << 10
	rcRetry     = 0x922
	rcYielded   = 0x908
	rcTesting   = 0x90A
)

func (s *streamTPM) Send(cmd []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		rsp, err := s.roundTrip(cmd)
		if err != nil {
			return nil, err
		}
		rc := binary.BigEndian.Uint32(rsp[6:10])
		// The TPM asks to be asked again; the command had no effect.
		if (rc == rcRetry || rc == rcYielded || rc == rcTesting) && attempt < 8 {
			time.Sleep(time.Duration(1<<attempt) * time.Millisecond)
			continue
		}
		return rsp, nil
	}
}

func (s *streamTPM) roundTrip(cmd []byte) ([]byte, error) {
	timeout := commandTimeout
	if !s.answered {
		timeout = firstTimeout
	}
	if err := s.conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if _, err := s.conn.Write(cmd); err != nil {
		return nil, fmt.Errorf("sending a tpm command: %w", err)
	}
	hdr := make([]byte, headerSize)
	if _, err := io.ReadFull(s.conn, hdr); err != nil {
		var ne net.Error
		if !s.answered && errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("the tpm did not answer within %v (swtpm serves one client at a time: is another program using it?): %w", timeout, err)
		}
		return nil, fmt.Errorf("reading a tpm response: %w", err)
	}
	s.answered = true
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < headerSize || size > maxResponse {
		return nil, fmt.Errorf("reading a tpm response: bad size %d (is this a tpm command channel and not the control channel?)", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr)
	if _, err := io.ReadFull(s.conn, rsp[headerSize:]); err != nil {
		return nil, fmt.Errorf("reading a tpm response: %w", err)
	}
	return rsp, nil
}

func (s *streamTPM) Close() error { return s.conn.Close() }
