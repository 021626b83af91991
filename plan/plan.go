package plan

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/tokenbatch/tokenbatch/reader"
)

// DefaultMaxCodeAge is how old codes may be when they are sent. AWS publishes no window
// for ResyncMFADevice ("submit immediately; the codes expire after a short time"), so
// this is an assumption: ten 30-second steps either side is a common verifier window,
// and five minutes leaves room for a batch to run. Raise it with --max-code-age only if
// IAM is seen to accept older codes.
const DefaultMaxCodeAge = 5 * time.Minute

// MaxProblems is how many problems a plan keeps with their messages.
const MaxProblems = 10000

// Severity says whether a problem stops its row.
type Severity int

const (
	Error   Severity = iota + 1 // the row is not resynced
	Warning                     // the row is resynced; the problem is reported
)

func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "severity(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText writes "error" or "warning".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "error" or "warning".
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = Error
	case "warning":
		*s = Warning
	default:
		return fmt.Errorf("unknown severity %q", b)
	}
	return nil
}

// Problem is something wrong with one row (Line > 0) or with the whole source. Its
// Message never holds an authentication code.
type Problem struct {
	File         string   `json:"file,omitempty"`
	Line         int      `json:"line,omitempty"`
	Column       string   `json:"column,omitempty"`
	UserName     string   `json:"user_name,omitempty"`
	SerialNumber string   `json:"serial_number,omitempty"`
	Severity     Severity `json:"severity"`
	Code         string   `json:"code"` // a short machine word, e.g. "lost_leading_zero"
	Message      string   `json:"message"`
}

// String formats the problem as "file:line: column c: message", with "warning: " before
// the message for warnings.
func (p Problem) String() string {
	s := p.File
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
	}
	if s != "" {
		s += ": "
	}
	if p.Severity == Warning {
		s += "warning: "
	}
	if p.Column != "" {
		s += "column " + p.Column + ": "
	}
	return s + p.Message
}

// Options control how a plan is built.
type Options struct {
	// AccountID and Partition are the credentials' (STS GetCallerIdentity). Empty when
	// planning offline: then rows must agree among themselves on one account.
	AccountID, Partition string
	// MaxCodeAge marks rows collected longer ago as stale; 0 turns the check off.
	MaxCodeAge time.Duration
	// Now is the planning time; zero means time.Now().
	Now time.Time
	// CheckIAM confirms with IAM that each user exists and owns the serial; IAM must
	// then be set. Nothing is changed in IAM.
	CheckIAM bool
	IAM      IAMReader
}

// Plan is a validated, ordered list of devices to resync, with the problems found.
type Plan struct {
	CreatedAt time.Time
	// AccountID and Partition are what the plan is for: the credentials', or offline
	// the ones the rows name (all rows must agree), empty when no row names any. Apply
	// refuses credentials of another account or partition.
	AccountID string
	Partition string
	// Offline: planned without credentials, so the account was not checked against
	// any (it only binds apply).
	Offline        bool
	Source         string // manifest path, or "tokens" / "tpm"
	ManifestDigest string // hex SHA-256 of the manifest's bytes
	MaxCodeAge     time.Duration
	// Problems holds the first MaxProblems problems in line order; OmittedProblems
	// counts the others by Code. Invalid and ErrorRows still cover every row.
	Problems        []Problem
	OmittedProblems map[string]int

	st       store
	order    []uint32 // valid entries in execution order; nil when st holds no invalid rows and file order is right
	valid    int
	invalid  []uint32 // invalid entries with a user and serial, in file order
	errors   int      // rows with an error
	oldest   time.Time
	hasCodes bool
}

// Len returns the number of valid devices.
func (p *Plan) Len() int { return p.valid }

// Device returns the i-th valid device in execution order: earliest collected first,
// rows without collected_at after those with it, file order among equals.
func (p *Plan) Device(i int) Device {
	if p.order != nil {
		return p.st.device(int(p.order[i]))
	}
	return p.st.device(i)
}

// HasErrors reports whether some row or the source has an error.
func (p *Plan) HasErrors() bool { return p.errors > 0 }

// ErrorRows returns the number of rows with at least one error.
func (p *Plan) ErrorRows() int { return p.errors }

// Invalid returns the rows with errors that still name a user and a serial, in file
// order, without codes: the executor reports them as skipped.
func (p *Plan) Invalid() []Device {
	out := make([]Device, 0, len(p.invalid))
	for _, i := range p.invalid {
		d := p.st.device(int(i))
		d.Code1, d.Code2 = "", ""
		out = append(out, d)
	}
	return out
}

// Expired reports whether the plan's codes are older than MaxCodeAge at now, counting
// from the earliest collected_at of its devices, or from CreatedAt when that is earlier
// or absent. A plan whose devices get codes from tokens at send time never expires.
func (p *Plan) Expired(now time.Time) bool {
	if p.MaxCodeAge <= 0 || !p.hasCodes {
		return false
	}
	from := p.CreatedAt
	if !p.oldest.IsZero() && p.oldest.Before(from) {
		from = p.oldest
	}
	return now.Sub(from) > p.MaxCodeAge
}

// FromManifest reads and validates a manifest file. It returns an error only when the
// file cannot be read or is structurally broken (a *reader.Error); problems with rows
// are in Problems.
func FromManifest(ctx context.Context, path string, opts Options) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return FromReader(ctx, path, f, opts)
}

// FromReader is FromManifest for a manifest read from r; name is used in messages.
func FromReader(ctx context.Context, name string, r io.Reader, opts Options) (*Plan, error) {
	b := newBuilder(name, opts)
	b.p.Source = name
	h := sha256.New()
	ropts := reader.Options{Warn: func(e *reader.Error) {
		b.problem(Problem{File: e.File, Line: e.Line, Column: e.Column, Severity: Warning, Code: "unknown_column", Message: e.Err.Error()})
	}}
	n := 0
	err := reader.ReadManifestWith(name, io.TeeReader(r, h), ropts, func(rec reader.Record) error {
		if n++; n&0xfff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return b.addRecord(rec)
	})
	if err != nil {
		return nil, err
	}
	b.p.ManifestDigest = hex.EncodeToString(h.Sum(nil))
	return b.finish(ctx)
}

// FromDevices plans devices found on tokens, which carry no codes yet.
func FromDevices(ctx context.Context, devices []Device, opts Options) (*Plan, error) {
	b := newBuilder("tokens", opts)
	b.p.Source = "tokens"
	tpm := len(devices) > 0
	for _, d := range devices {
		if d.Token == nil || d.Token.Kind != "tpm" {
			tpm = false
		}
		if err := b.addDevice(d); err != nil {
			return nil, err
		}
	}
	if tpm {
		b.p.Source = "tpm"
	}
	return b.finish(ctx)
}

// finish runs the IAM checks, then orders the valid devices.
func (b *builder) finish(ctx context.Context) (*Plan, error) {
	p := b.p
	if b.opts.AccountID == "" {
		// Offline, the rows' own account binds the plan: without it, apply would
		// send the codes to whatever account its credentials are for.
		p.Offline = true
		p.AccountID = b.firstAccount
	}
	if p.Partition == "" {
		p.Partition = b.firstPart
	}
	b.markDuplicates()
	if b.opts.CheckIAM {
		if b.opts.IAM == nil {
			return nil, errors.New("check IAM: no IAM client")
		}
		if err := b.checkIAM(ctx); err != nil {
			return nil, err
		}
	}
	st := &p.st
	var order []uint32
	anyInvalid := false
	for i := 0; i < st.n; i++ {
		e := st.at(i)
		if e.flags&flagInvalid != 0 {
			anyInvalid = true
			p.errors++
			if e.userLen > 0 && e.serialLen > 0 {
				p.invalid = append(p.invalid, uint32(i))
			}
			continue
		}
		if e.flags&flagCodes != 0 {
			p.hasCodes = true
			if e.flags&flagCollected != 0 {
				t := time.Unix(0, e.collected)
				if p.oldest.IsZero() || t.Before(p.oldest) {
					p.oldest = t
				}
			}
		}
		p.valid++
	}
	p.errors += b.sourceErrors
	before := func(a, b uint32) int {
		ea, eb := st.at(int(a)), st.at(int(b))
		ca, cb := ea.flags&flagCollected != 0, eb.flags&flagCollected != 0
		switch {
		case ca && !cb:
			return -1
		case !ca && cb:
			return 1
		case ca && cb && ea.collected != eb.collected:
			return cmp.Compare(ea.collected, eb.collected)
		}
		return cmp.Compare(a, b) // file order among equals: the sort is stable in effect
	}
	sorted := true
	for i := 1; i < st.n && sorted; i++ {
		sorted = before(uint32(i-1), uint32(i)) < 0
	}
	if anyInvalid || !sorted {
		order = make([]uint32, 0, p.valid)
		for i := 0; i < st.n; i++ {
			if st.at(i).flags&flagInvalid == 0 {
				order = append(order, uint32(i))
			}
		}
		if !sorted {
			slices.SortFunc(order, before)
		}
		p.order = order
	}
	slices.SortStableFunc(p.Problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return p, nil
}
