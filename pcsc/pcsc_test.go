package pcsc_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/internal/vpcdtest"
	"github.com/tokenbatch/tokenbatch/pcsc"
	"github.com/tokenbatch/tokenbatch/vyubikey"
)

func TestCardLifecycle(t *testing.T) {
	k := vpcdtest.StartKey(t, vyubikey.Config{Serial: 42})
	ctx, err := pcsc.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Release()
	readers, err := ctx.ListReaders()
	if err != nil || !slices.Contains(readers, k.Reader()) {
		t.Fatalf("readers %q, %v", readers, err)
	}
	c, err := ctx.Connect(k.Reader(), pcsc.ShareShared)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(pcsc.LeaveCard)
	atr, err := c.Status()
	if err != nil || !bytes.Equal(atr, vyubikey.ATR) {
		t.Errorf("ATR % X, %v", atr, err)
	}
	if err := c.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	// SELECT PIV, then GET SERIAL.
	resp, err := c.Transmit([]byte{0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08})
	if err != nil || !bytes.HasSuffix(resp, []byte{0x90, 0x00}) {
		t.Fatalf("select: % X %v", resp, err)
	}
	resp, err = c.Transmit([]byte{0x00, 0xF8, 0x00, 0x00, 0x00})
	if err != nil || !bytes.Equal(resp, []byte{0, 0, 0, 42, 0x90, 0x00}) {
		t.Fatalf("serial: % X %v", resp, err)
	}
	if err := c.EndTransaction(pcsc.LeaveCard); err != nil {
		t.Fatal(err)
	}

	// A second connection cannot take the card exclusively while we hold it.
	if _, err := ctx.Connect(k.Reader(), pcsc.ShareExclusive); !errors.Is(err, pcsc.ErrSharingViolation) {
		t.Errorf("exclusive connect while shared: %v", err)
	}
	if _, err := ctx.Connect("No Such Reader 00 00", pcsc.ShareShared); !errors.Is(err, pcsc.ErrUnknownReader) {
		t.Errorf("unknown reader: %v", err)
	}
}

func TestStatusChangeAndCancel(t *testing.T) {
	vpcdtest.RequirePCSC(t)
	ctx, err := pcsc.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Release()
	st := []pcsc.ReaderState{{Reader: pcsc.PnPNotification, CurrentState: pcsc.StateUnaware}}
	// Learn the current state first, then wait for a change that Cancel ends.
	if err := ctx.GetStatusChange(st, 0); err != nil && !errors.Is(err, pcsc.ErrTimeout) {
		t.Fatal(err)
	}
	st[0].CurrentState = st[0].EventState &^ pcsc.StateChanged
	waiter, err := pcsc.EstablishContext() // Cancel must use the waiting context
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Release()
	done := make(chan error, 1)
	go func() { done <- waiter.GetStatusChange(st, -1) }()
	time.Sleep(100 * time.Millisecond)
	if err := waiter.Cancel(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, pcsc.ErrCancelled) {
			t.Errorf("cancelled wait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Cancel did not end GetStatusChange")
	}
	if err := ctx.GetStatusChange(st, 10*time.Millisecond); !errors.Is(err, pcsc.ErrTimeout) {
		t.Errorf("timeout: %v", err)
	}
}

func TestErrorMessages(t *testing.T) {
	e := &pcsc.Error{Op: "SCardEstablishContext", Code: 0x8010001D}
	if !errors.Is(e, pcsc.ErrNoService) || e.Error() == "" || e.Error()[0] != 'p' {
		t.Errorf("%v", e)
	}
}
