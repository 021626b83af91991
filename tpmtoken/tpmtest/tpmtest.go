// Package tpmtest runs swtpm for tests: each test gets its own TPM on a Unix socket,
// with its own state directory, stopped by pid when the test ends.
package tpmtest

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/internal/testenv"
)

// SWTPM is a running swtpm.
type SWTPM struct {
	// Addr is the TPM address for tpmtoken.Open and --tpm: "unix:PATH".
	Addr string
	// StateDir holds the TPM's persistent state; Restart keeps it.
	StateDir string

	bin       string
	sock, ctl string
	cmd       *exec.Cmd
	log       string
	waitCh    chan error
}

// Start starts swtpm on a fresh state directory, or skips the test (fails it under
// TOKENBATCH_REQUIRE_TOOLS=1) when swtpm is missing.
func Start(t testing.TB) *SWTPM {
	t.Helper()
	bin := testenv.Tool(t, "swtpm")
	// Unix socket paths are limited to about 100 bytes, which t.TempDir can exceed.
	sockDir, err := os.MkdirTemp("", "swtpm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	s := &SWTPM{
		StateDir: t.TempDir(),
		bin:      bin,
		sock:     filepath.Join(sockDir, "tpm.sock"),
		ctl:      filepath.Join(sockDir, "ctrl.sock"),
		log:      filepath.Join(sockDir, "swtpm.log"),
	}
	s.Addr = "unix:" + s.sock
	s.start(t)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

func (s *SWTPM) start(t testing.TB) {
	t.Helper()
	os.Remove(s.sock)
	os.Remove(s.ctl)
	cmd := exec.Command(s.bin, "socket", "--tpm2",
		"--server", "type=unixio,path="+s.sock,
		"--ctrl", "type=unixio,path="+s.ctl,
		"--tpmstate", "dir="+s.StateDir,
		"--flags", "not-need-init,startup-clear",
		"--log", "file="+s.log)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting swtpm: %v", err)
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", s.sock); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(s.log)
			s.cmd = nil
			t.Fatalf("swtpm exited: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop(t)
			t.Fatalf("swtpm did not listen on %s within 10s", s.sock)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.waitCh = exited
}

// Stop stops swtpm by its pid and waits for it to exit; the state directory stays.
func (s *SWTPM) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-s.waitCh:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-s.waitCh
	}
	s.cmd = nil
}

// Restart stops swtpm and starts it again on the same state directory and socket.
func (s *SWTPM) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.start(t)
}

// String describes the instance for test logs.
func (s *SWTPM) String() string { return fmt.Sprintf("swtpm at %s (state %s)", s.Addr, s.StateDir) }

// SecretForms returns the encodings of a secret that must never be written anywhere;
// an 8-byte window of the raw bytes catches partial copies.
func SecretForms(secret []byte) map[string][]byte {
	return map[string][]byte{
		"raw":          secret[:8],
		"hex":          []byte(hex.EncodeToString(secret)),
		"base32":       []byte(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)),
		"base64":       []byte(base64.StdEncoding.EncodeToString(secret)),
		"base64 (raw)": []byte(base64.RawStdEncoding.EncodeToString(secret)),
		"base64url":    []byte(base64.RawURLEncoding.EncodeToString(secret)),
	}
}
