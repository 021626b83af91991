// Package vpcdtest shares vsmartcard's two vpcd slots between test processes and checks
// the PC/SC stack the hardware tests need. Go runs test packages as separate processes
// in parallel, so the slots are guarded by file locks, not a mutex. Tests never start
// or stop pcscd: the Makefile and CI own it (scripts/with-pcscd.sh).
package vpcdtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/internal/testenv"
	"github.com/tokenbatch/tokenbatch/pcsc"
	"github.com/tokenbatch/tokenbatch/vyubikey"
)

var ports = []int{vyubikey.Port0, vyubikey.Port1}

func lockPath(i int) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("tokenbatch-vpcd-%d.lock", i))
}

func lock(t testing.TB, i int, block bool) bool {
	t.Helper()
	f, err := os.OpenFile(lockPath(i), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("vpcd slot lock: %v", err)
	}
	how := syscall.LOCK_EX
	if !block {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false
		}
		t.Fatalf("vpcd slot lock: %v", err)
	}
	t.Cleanup(func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
	return true
}

// RequirePCSC skips the test (fails under TOKENBATCH_REQUIRE_TOOLS=1) unless a pcscd
// answers and offers vpcd's readers.
func RequirePCSC(t testing.TB) {
	t.Helper()
	ctx, err := pcsc.EstablishContext()
	if err != nil {
		testenv.Missing(t, "no pcscd answers (%v); run the tests through scripts/with-pcscd.sh", err)
		return
	}
	defer ctx.Release()
	readers, err := ctx.ListReaders()
	if err != nil {
		testenv.Missing(t, "listing readers: %v", err)
		return
	}
	for _, r := range readers {
		if r == vyubikey.ReaderName(vyubikey.Port0) {
			return
		}
	}
	testenv.Missing(t, "pcscd has no %q reader: install vsmartcard-vpcd (/etc/reader.conf.d/vpcd)", vyubikey.ReaderName(vyubikey.Port0))
}

// Slot locks one free vpcd slot for the rest of the test and returns its port.
func Slot(t testing.TB) int {
	t.Helper()
	RequirePCSC(t)
	for i := range ports {
		if lock(t, i, false) {
			return ports[i]
		}
	}
	lock(t, 0, true)
	return ports[0]
}

// BothSlots locks both slots (always in the same order, so that tests cannot deadlock)
// and returns their ports.
func BothSlots(t testing.TB) []int {
	t.Helper()
	RequirePCSC(t)
	lock(t, 0, true)
	lock(t, 1, true)
	return ports
}

// WaitCard waits until pcscd sees a card in reader (present) or none.
func WaitCard(t testing.TB, reader string, present bool) {
	t.Helper()
	ctx, err := pcsc.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Release()
	deadline := time.Now().Add(10 * time.Second)
	st := []pcsc.ReaderState{{Reader: reader, CurrentState: pcsc.StateUnaware}}
	for time.Now().Before(deadline) {
		err := ctx.GetStatusChange(st, time.Second)
		if err != nil && !errors.Is(err, pcsc.ErrTimeout) {
			t.Fatalf("waiting for a card in %s: %v", reader, err)
		}
		if err == nil {
			if (st[0].EventState&pcsc.StatePresent != 0) == present && st[0].EventState&pcsc.StateMute == 0 {
				return
			}
			st[0].CurrentState = st[0].EventState &^ pcsc.StateChanged
		}
	}
	t.Fatalf("reader %s: card present=%v not seen within 10s", reader, present)
}

// StartKey locks a slot, starts a virtual key in it, waits until pcscd sees it, and
// closes it at the end of the test.
func StartKey(t testing.TB, cfg vyubikey.Config) *vyubikey.Key {
	t.Helper()
	port := Slot(t)
	return StartKeyOn(t, port, cfg)
}

// StartKeyOn starts a virtual key on a slot the test has locked.
func StartKeyOn(t testing.TB, port int, cfg vyubikey.Config) *vyubikey.Key {
	t.Helper()
	k, err := vyubikey.Start(t.Context(), port, cfg)
	if err != nil {
		t.Fatalf("starting the virtual yubikey: %v", err)
	}
	t.Cleanup(func() {
		k.Close()
		WaitCard(t, k.Reader(), false)
	})
	WaitCard(t, k.Reader(), true)
	return k
}

// Ykman returns a command running ykman with a no-op pkill first on PATH: ykman runs
// `pkill -9 scdaemon` after a card error, which must not touch the machine's processes.
func Ykman(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	ykman := testenv.Tool(t, "ykman")
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "pkill"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ykman, args...)
	// A temporary HOME keeps ykman's settings (remembered passwords) out of the user's.
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+t.TempDir())
	return cmd
}
