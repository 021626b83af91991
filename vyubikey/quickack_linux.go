package vyubikey

import (
	"net"
	"syscall"
)

// quickAck asks Linux to acknowledge received data at once. vpcd writes a message's
// length and payload in two writes without TCP_NODELAY, so Nagle holds the payload until
// the length is acknowledged; a delayed ACK would add 40 ms to every APDU. The flag
// does not stick, so it is set again before each read.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
