package executor

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// JournalName is the journal's file name inside a report directory.
const JournalName = "journal.jsonl"

// journalVersion is the record format's version, written in the header.
const journalVersion = 1

// Journal errors.
var (
	// ErrLocked: another tokenbatch process holds the report directory.
	ErrLocked = errors.New("report directory is in use by another tokenbatch run")
	// ErrJournalExists: a new run was pointed at a directory that already holds a journal.
	ErrJournalExists = errors.New("report directory already holds a journal")
	// ErrNoJournal: --resume was given a directory without a journal.
	ErrNoJournal = errors.New("no journal to resume")
	// ErrJournalMismatch: the journal belongs to another manifest, device set, account
	// or partition.
	ErrJournalMismatch = errors.New("journal belongs to another run")
	// ErrJournalCorrupt: the journal cannot be read back.
	ErrJournalCorrupt = errors.New("journal is corrupt")
)

// Result kinds of an attempt in the journal.
const (
	resultOK       = "ok"        // IAM resynced the device
	resultError    = "error"     // IAM answered with an error: nothing was applied
	resultNoAnswer = "no_answer" // no answer (connection lost, timeout, 5xx): may have been applied
)

// Header binds a journal to one plan: a resume must present the same source, manifest
// digest (or, for devices found on tokens, the same devices), account and partition, or
// it could skip or resend the wrong devices.
type Header struct {
	ManifestDigest string
	// DevicesDigest binds plans without a manifest (tokens, TPM): DevicesDigest of
	// their devices.
	DevicesDigest string
	AccountID     string
	Partition     string
	Source        string
	Devices       int
}

// DevicesDigest is the hex SHA-256 of the sorted serial numbers of devs: what a token
// plan, having no manifest digest, binds its journal to.
func DevicesDigest(devs Devices) string {
	serials := make([]string, devs.Len())
	for i := range serials {
		serials[i] = devs.Device(i).SerialNumber
	}
	slices.Sort(serials)
	h := sha256.New()
	for _, s := range serials {
		h.Write([]byte(s))
		h.Write([]byte{'\n'}) // serials never hold a newline, so the join is unambiguous
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sourceKind is what a resume must share with the journal's source: "tokens", "tpm", or
// "manifest" for any manifest path (the digest binds its content, and the same file may
// be named by another path on resume).
func sourceKind(source string) string {
	switch source {
	case "tokens", "tpm":
		return source
	}
	return "manifest"
}

// record is one line of the journal. It never holds a code or an IAM message (messages
// echo submitted values); error codes and request ids are enough to resume.
type record struct {
	Type string    `json:"type"` // header, resume, intent, outcome
	Time time.Time `json:"time"`

	Version        int    `json:"version,omitempty"`
	ManifestDigest string `json:"manifest_digest,omitempty"`
	DevicesDigest  string `json:"devices_digest,omitempty"`
	AccountID      string `json:"account_id,omitempty"`
	Partition      string `json:"partition,omitempty"`
	Source         string `json:"source,omitempty"`
	Devices        int    `json:"devices,omitempty"`
	PID            int    `json:"pid,omitempty"`

	Serial    string `json:"serial,omitempty"`
	User      string `json:"user,omitempty"`
	Attempt   int    `json:"attempt,omitempty"`
	Result    string `json:"result,omitempty"`
	ErrorCode string `json:"error_code,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Journal is an append-only log of attempts, one JSON object per line, fsynced before
// Intent or Outcome returns. Concurrent writers share fsyncs (group commit): a record is
// durable when its call returns, at a fraction of the cost of one fsync per record.
type Journal struct {
	dir  string
	lock *os.File

	mu      sync.Mutex // guards f writes, buf and written
	f       *os.File
	buf     []byte
	written uint64

	syncMu sync.Mutex // serialises fsyncs
	synced uint64
	err    error // first write or sync error; sticky
}

// CreateJournal locks dir and starts a new journal in it. dir must exist and hold no
// journal (ErrJournalExists).
func CreateJournal(dir string, h Header) (*Journal, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, JournalName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		unlockDir(lock)
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: %s (pass --resume %s to continue that run, or choose another --report-dir)",
				ErrJournalExists, dir, dir)
		}
		return nil, fmt.Errorf("cannot create journal: %w", err)
	}
	j := &Journal{dir: dir, lock: lock, f: f}
	err = j.append(record{Type: "header", Time: time.Now().UTC(), Version: journalVersion,
		ManifestDigest: h.ManifestDigest, DevicesDigest: h.DevicesDigest, AccountID: h.AccountID, Partition: h.Partition,
		Source: h.Source, Devices: h.Devices, PID: os.Getpid()})
	if err != nil {
		j.Close()
		return nil, err
	}
	return j, nil
}

// OpenJournal locks dir and reopens its journal to resume a run. The journal's header
// must match h's source, digests, account and partition (ErrJournalMismatch). A last line cut
// short by a crash is dropped. It returns what the journal knows of each device.
func OpenJournal(dir string, h Header) (*Journal, *Resume, error) {
	lock, err := lockDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: %s does not exist", ErrNoJournal, dir)
		}
		return nil, nil, err
	}
	path := filepath.Join(dir, JournalName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		unlockDir(lock)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: %s holds no %s", ErrNoJournal, dir, JournalName)
		}
		return nil, nil, fmt.Errorf("cannot open journal: %w", err)
	}
	fail := func(err error) (*Journal, *Resume, error) {
		f.Close()
		unlockDir(lock)
		return nil, nil, err
	}
	res, end, err := readJournal(f, h)
	if err != nil {
		return fail(err)
	}
	// Drop a torn last line, so the next record starts on a line of its own.
	if err := f.Truncate(end); err != nil {
		return fail(fmt.Errorf("cannot repair journal: %w", err))
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return fail(fmt.Errorf("cannot repair journal: %w", err))
	}
	j := &Journal{dir: dir, lock: lock, f: f}
	if err := j.append(record{Type: "resume", Time: time.Now().UTC(), PID: os.Getpid()}); err != nil {
		j.Close()
		return nil, nil, err
	}
	return j, res, nil
}

// readJournal replays the journal; end is the offset after the last complete line.
func readJournal(r io.Reader, h Header) (*Resume, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	res := &Resume{devices: map[string]*DeviceState{}}
	var end int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			break // an unterminated last line was torn by a crash
		}
		if err != nil {
			return nil, 0, fmt.Errorf("cannot read journal: %w", err)
		}
		var rec record
		if err := json.Unmarshal(bytes.TrimSpace(line), &rec); err != nil {
			return nil, 0, fmt.Errorf("%w: line %d: %v", ErrJournalCorrupt, n, err)
		}
		if n == 1 {
			if rec.Type != "header" {
				return nil, 0, fmt.Errorf("%w: line 1 is not a header", ErrJournalCorrupt)
			}
			if rec.Version != journalVersion {
				return nil, 0, fmt.Errorf("%w: version %d, want %d", ErrJournalCorrupt, rec.Version, journalVersion)
			}
			if sourceKind(rec.Source) != sourceKind(h.Source) {
				return nil, 0, fmt.Errorf("%w: it was written for devices from %s, not %s (resume with the same source)",
					ErrJournalMismatch, sourceKind(rec.Source), sourceKind(h.Source))
			}
			if rec.ManifestDigest != h.ManifestDigest {
				return nil, 0, fmt.Errorf("%w: it was written for a manifest with digest %s, not %s (resume with the same manifest or plan)",
					ErrJournalMismatch, short(rec.ManifestDigest), short(h.ManifestDigest))
			}
			if rec.DevicesDigest != h.DevicesDigest {
				return nil, 0, fmt.Errorf("%w: it was written for another set of devices (%s, not %s); resume with the same tokens or plan",
					ErrJournalMismatch, short(rec.DevicesDigest), short(h.DevicesDigest))
			}
			if rec.AccountID != h.AccountID {
				return nil, 0, fmt.Errorf("%w: it was written for account %s, not %s (use the same credentials)",
					ErrJournalMismatch, rec.AccountID, h.AccountID)
			}
			if rec.Partition != h.Partition {
				return nil, 0, fmt.Errorf("%w: it was written for partition %s, not %s (use the same credentials)",
					ErrJournalMismatch, orNone(rec.Partition), orNone(h.Partition))
			}
		} else {
			res.apply(&rec)
		}
		end += int64(len(line))
	}
	if end == 0 {
		return nil, 0, fmt.Errorf("%w: no header", ErrJournalCorrupt)
	}
	return res, end, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19] + "..."
	}
	if digest == "" {
		return "(none)"
	}
	return digest
}

// Intent records that attempt n of the device is about to be sent.
func (j *Journal) Intent(serial, user string, n int) error {
	return j.append(record{Type: "intent", Time: time.Now().UTC(), Serial: serial, User: user, Attempt: n})
}

// Outcome records how attempt n ended.
func (j *Journal) outcome(serial string, n int, result, code, requestID string) error {
	return j.append(record{Type: "outcome", Time: time.Now().UTC(), Serial: serial, Attempt: n,
		Result: result, ErrorCode: code, RequestID: requestID})
}

func (j *Journal) append(rec record) error {
	j.mu.Lock()
	if j.err != nil {
		j.mu.Unlock()
		return j.err
	}
	j.buf = j.buf[:0]
	b, err := json.Marshal(&rec)
	if err != nil {
		j.mu.Unlock()
		return err
	}
	j.buf = append(append(j.buf, b...), '\n')
	if _, err := j.f.Write(j.buf); err != nil {
		j.err = fmt.Errorf("cannot write journal: %w", err)
		j.mu.Unlock()
		return j.err
	}
	j.written++
	seq := j.written
	j.mu.Unlock()

	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	if j.synced >= seq {
		return nil // another writer's fsync covered this record
	}
	j.mu.Lock()
	upto := j.written
	j.mu.Unlock()
	if err := j.f.Sync(); err != nil {
		j.mu.Lock()
		j.err = fmt.Errorf("cannot sync journal: %w", err)
		j.mu.Unlock()
		return j.err
	}
	j.synced = upto
	return nil
}

// Dir is the directory the journal is in.
func (j *Journal) Dir() string { return j.dir }

// Close closes the journal and releases the directory's lock.
func (j *Journal) Close() error {
	err := j.f.Close()
	if lerr := unlockDir(j.lock); err == nil {
		err = lerr
	}
	return err
}

// Resume is what a journal knows of each device from earlier runs.
type Resume struct {
	devices map[string]*DeviceState
}

// DeviceState is one device's history in a journal.
type DeviceState struct {
	Attempts   int // attempts sent so far
	Succeeded  bool
	RequestID  string // of the successful attempt
	StartedAt  time.Time
	FinishedAt time.Time
	// LastSent is the host time of the last attempt's intent: a token device in doubt
	// waits for codes of a later time step.
	LastSent time.Time
	// Unanswered: some attempt has no recorded answer (the process died, the reply was
	// lost, or IAM failed mid-request), so IAM may have applied it.
	Unanswered bool
	open       map[int]bool // attempts with an intent and no outcome yet
}

func (r *Resume) apply(rec *record) {
	if rec.Serial == "" {
		return
	}
	d := r.devices[rec.Serial]
	if d == nil {
		d = &DeviceState{}
		r.devices[rec.Serial] = d
	}
	switch rec.Type {
	case "intent":
		if d.StartedAt.IsZero() {
			d.StartedAt = rec.Time
		}
		d.Attempts = max(d.Attempts, rec.Attempt)
		d.LastSent = rec.Time
		if d.open == nil {
			d.open = map[int]bool{}
		}
		d.open[rec.Attempt] = true
	case "outcome":
		delete(d.open, rec.Attempt)
		d.FinishedAt = rec.Time
		switch rec.Result {
		case resultOK:
			d.Succeeded = true
			d.RequestID = rec.RequestID
		case resultNoAnswer:
			d.Unanswered = true
		}
	}
}

// Device returns the journal's state of a device, by serial number.
func (r *Resume) Device(serial string) (DeviceState, bool) {
	if r == nil {
		return DeviceState{}, false
	}
	d, ok := r.devices[serial]
	if !ok {
		return DeviceState{}, false
	}
	s := *d
	s.Unanswered = s.Unanswered || len(d.open) > 0
	s.open = nil
	return s, true
}

// Succeeded counts the devices the journal records as resynced.
func (r *Resume) Succeeded() int {
	n := 0
	for _, d := range r.devices {
		if d.Succeeded {
			n++
		}
	}
	return n
}
