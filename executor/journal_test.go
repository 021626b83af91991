package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/report"
)

var testHeader = Header{ManifestDigest: "abc123", AccountID: "123456789012", Partition: "aws", Source: "m.csv", Devices: 3}

func TestJournalCreateLockMismatch(t *testing.T) {
	dir := t.TempDir()
	j, err := CreateJournal(dir, testHeader)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, JournalName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal mode %v, %v", fi.Mode(), err)
	}
	if _, _, err := OpenJournal(dir, testHeader); !errors.Is(err, ErrLocked) {
		t.Errorf("second open while locked: %v, want ErrLocked", err)
	}
	j.Close()
	if _, err := CreateJournal(dir, testHeader); !errors.Is(err, ErrJournalExists) {
		t.Errorf("create over a journal: %v", err)
	}
	other := testHeader
	other.ManifestDigest = "def456"
	if _, _, err := OpenJournal(dir, other); !errors.Is(err, ErrJournalMismatch) || !strings.Contains(err.Error(), "manifest") {
		t.Errorf("other manifest: %v", err)
	}
	other = testHeader
	other.AccountID = "210987654321"
	if _, _, err := OpenJournal(dir, other); !errors.Is(err, ErrJournalMismatch) || !strings.Contains(err.Error(), "account") {
		t.Errorf("other account: %v", err)
	}
	if _, _, err := OpenJournal(t.TempDir(), testHeader); !errors.Is(err, ErrNoJournal) {
		t.Errorf("no journal: %v", err)
	}
}

func TestJournalReplayAndTornLine(t *testing.T) {
	dir := t.TempDir()
	j, err := CreateJournal(dir, testHeader)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(j.Intent("A", "ua", 1))
	must(j.outcome("A", 1, resultOK, "", "rid-a"))
	must(j.Intent("B", "ub", 1))
	must(j.outcome("B", 1, resultError, "Throttling", "rid-b"))
	must(j.Intent("B", "ub", 2)) // the process dies here
	must(j.Intent("C", "uc", 1))
	must(j.outcome("C", 1, resultNoAnswer, CodeConnection, ""))
	j.Close()
	// A torn last record, as kill -9 in the middle of a write could leave.
	f, _ := os.OpenFile(filepath.Join(dir, JournalName), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"type":"intent","ser`)
	f.Close()

	j, res, err := OpenJournal(dir, testHeader)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	a, _ := res.Device("A")
	b, _ := res.Device("B")
	c, _ := res.Device("C")
	if !a.Succeeded || a.RequestID != "rid-a" || a.Unanswered {
		t.Errorf("A: %+v", a)
	}
	if b.Succeeded || !b.Unanswered || b.Attempts != 2 {
		t.Errorf("B: %+v", b)
	}
	if c.Succeeded || !c.Unanswered || c.Attempts != 1 {
		t.Errorf("C: %+v", c)
	}
	if _, ok := res.Device("D"); ok {
		t.Error("D unknown to the journal")
	}
	must(j.Intent("D", "ud", 1))
	data, _ := os.ReadFile(filepath.Join(dir, JournalName))
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
			t.Errorf("line %d not a whole record after repair: %q", i+1, line)
		}
	}
}

func TestResumeNeverResendsSucceeded(t *testing.T) {
	dir := t.TempDir()
	devs := devices(6)
	h := testHeader
	h.Devices = len(devs)
	j, err := CreateJournal(dir, h)
	if err != nil {
		t.Fatal(err)
	}
	f := newFake()
	f.script[devs[1].SerialNumber] = []fault{fBadCode}
	// Device 2's reply is lost twice: applied, then in doubt at the end of the run.
	f.script[devs[2].SerialNumber] = []fault{fLost, fDrop, fDrop, fDrop}
	opts := fastOptions()
	opts.Journal = j
	res := mustRun(t, context.Background(), f, devs[:4], opts)
	j.Close()
	if res.Outcomes[2].Status != report.InDoubt {
		t.Fatalf("device 2: %+v", res.Outcomes[2])
	}
	// Pretend the process died with device 4's intent written.
	j, _, _ = OpenJournal(dir, h)
	j.Intent(devs[4].SerialNumber, devs[4].UserName, 1)
	f.used[devs[4].SerialNumber] = devs[4].Code1 + devs[4].Code2 // and IAM applied it
	f.ok[devs[4].SerialNumber] = 1
	j.Close()

	j, state, err := OpenJournal(dir, h)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	before := map[string]int{}
	for k, v := range f.calls {
		before[k] = v
	}
	opts.Journal, opts.Resume = j, state
	f.script[devs[1].SerialNumber] = []fault{fBadCode} // its codes are still wrong
	res = mustRun(t, context.Background(), f, devs, opts)
	want := []struct {
		status report.Status
		code   string
		resent bool
	}{
		{report.Skipped, CodeAlreadySucceeded, false},
		{report.Failed, "InvalidAuthenticationCode", true},
		{report.InDoubt, "InvalidAuthenticationCode", true},
		{report.Skipped, CodeAlreadySucceeded, false},
		{report.InDoubt, "InvalidAuthenticationCode", true},
		{report.Succeeded, "", true},
	}
	for i, w := range want {
		o := res.Outcomes[i]
		resent := f.calls[devs[i].SerialNumber] > before[devs[i].SerialNumber]
		if o.Status != w.status || o.ErrorCode != w.code || resent != w.resent {
			t.Errorf("device %d: %s %q resent=%v, want %s %q resent=%v (%s)", i, o.Status, o.ErrorCode, resent,
				w.status, w.code, w.resent, o.ErrorMessage)
		}
		if f.ok[devs[i].SerialNumber] > 1 {
			t.Errorf("device %d resynced %d times", i, f.ok[devs[i].SerialNumber])
		}
	}
	if res.Outcomes[0].RequestID == "" || res.Outcomes[0].Attempts != 1 {
		t.Errorf("done-earlier row lost its history: %+v", res.Outcomes[0])
	}
	if res.Outcomes[4].Attempts != 2 {
		t.Errorf("attempt numbers continue across runs: %d", res.Outcomes[4].Attempts)
	}
}

// A resume must present the journal's source kind, partition and, for plans without a
// manifest, the same set of devices; a manifest named by another path is the same run.
func TestJournalBindsSourcePartitionDevices(t *testing.T) {
	dir := t.TempDir()
	j, err := CreateJournal(dir, testHeader)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	samePath := testHeader
	samePath.Source = "./reports/../m.csv"
	j, _, err = OpenJournal(dir, samePath)
	if err != nil {
		t.Fatalf("same manifest by another path: %v", err)
	}
	j.Close()
	other := testHeader
	other.Partition = "aws-cn"
	if _, _, err := OpenJournal(dir, other); !errors.Is(err, ErrJournalMismatch) || !strings.Contains(err.Error(), "partition aws, not aws-cn") {
		t.Errorf("other partition: %v", err)
	}

	// Token plans have no manifest digest: the journal is bound to their devices.
	alice, bob, carol := "arn:aws:iam::123456789012:mfa/alice", "arn:aws:iam::123456789012:mfa/bob", "arn:aws:iam::123456789012:mfa/carol"
	tokens := func(source string, serials ...string) Header {
		var devs deviceList
		for _, s := range serials {
			devs = append(devs, plan.Device{UserName: "u", SerialNumber: s})
		}
		return Header{AccountID: "123456789012", Partition: "aws", Source: source, Devices: len(devs), DevicesDigest: DevicesDigest(devs)}
	}
	h := tokens("tokens", alice, bob)
	if h.DevicesDigest != tokens("tokens", bob, alice).DevicesDigest {
		t.Error("the devices digest depends on the devices' order")
	}
	dir = t.TempDir()
	if j, err = CreateJournal(dir, h); err != nil {
		t.Fatal(err)
	}
	j.Close()
	for _, tc := range []struct {
		name string
		h    Header
		want string
	}{
		{"other devices", tokens("tokens", alice, carol), "another set of devices"},
		{"fewer devices", tokens("tokens", alice), "another set of devices"},
		{"tpm instead of yubikeys", tokens("tpm", alice, bob), "devices from tokens, not tpm"},
		{"a manifest", testHeader, "devices from tokens, not manifest"},
	} {
		if _, _, err := OpenJournal(dir, tc.h); !errors.Is(err, ErrJournalMismatch) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a mismatch naming %q", tc.name, err, tc.want)
		}
	}
	j, _, err = OpenJournal(dir, tokens("tokens", bob, alice))
	if err != nil {
		t.Fatalf("same devices: %v", err)
	}
	j.Close()
}
