package reader

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gocarina/gocsv"
)

// Limits that keep a broken file (an unclosed quote, a binary file) from being read
// into memory whole.
const (
	// MaxFieldBytes is the longest value accepted in any column.
	MaxFieldBytes = 1024
	// MaxLineBytes is the longest physical line accepted.
	MaxLineBytes = 64 << 10
	// MaxColumns is the most columns a header may have.
	MaxColumns = 100
)

// Canonical column names.
const (
	ColUserName     = "user_name"
	ColSerialNumber = "serial_number"
	ColCode1        = "authentication_code1"
	ColCode2        = "authentication_code2"
	ColAccountID    = "account_id"
	ColCollectedAt  = "collected_at"
	ColTicket       = "ticket"
)

// colLine is the synthetic column that carries each record's line number through gocsv,
// which decodes on its own goroutine; a shared "current line" would race.
const colLine = "_line"

// Required lists the columns every manifest must have, in the documented order.
var Required = []string{ColUserName, ColSerialNumber, ColCode1, ColCode2}

// Optional lists the columns a manifest may have.
var Optional = []string{ColAccountID, ColCollectedAt, ColTicket}

// Record is one manifest row, with values trimmed of surrounding spaces.
type Record struct {
	Line         int // line of the row in the file, counting from 1
	UserName     string
	SerialNumber string
	Code1        string
	Code2        string
	AccountID    string
	Ticket       string
	// CollectedAt is zero when the column is absent, empty, or not RFC 3339; then
	// CollectedAtText (the value as written) tells which.
	CollectedAt     time.Time
	CollectedAtText string
}

// Sentinel errors, wrapped in *Error.
var (
	ErrEmpty          = errors.New("empty file")
	ErrNoRecords      = errors.New("no devices after the header")
	ErrHeader         = errors.New("bad header")
	ErrMissingColumn  = errors.New("missing column")
	ErrFieldCount     = errors.New("wrong number of values")
	ErrQuote          = errors.New("bad quoting")
	ErrEncoding       = errors.New("not UTF-8")
	ErrTooLong        = errors.New("too long")
	ErrSeparator      = errors.New("bad separator line")
	ErrMultilineValue = errors.New("value spans lines")
)

// Error is a problem with a manifest, located by file, line and column. Column is the
// canonical column name, or empty when the problem is not in one column. Line is 0 when
// the problem concerns the whole file.
type Error struct {
	File   string
	Line   int
	Column string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Column != "" {
		b.WriteString("column ")
		b.WriteString(e.Column)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// detail wraps a sentinel with a specific message while keeping errors.Is working.
type detail struct {
	kind error
	msg  string
}

func (d *detail) Error() string { return d.msg }
func (d *detail) Unwrap() error { return d.kind }

func detailf(kind error, format string, args ...any) error {
	return &detail{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Options tune ReadManifestWith.
type Options struct {
	// Warn receives problems that do not stop reading, such as an unknown column,
	// which is ignored. Nil discards them.
	Warn func(*Error)
}

// ReadManifest reads a CSV manifest from r as a stream and calls fn for each row, in
// file order. name is the file name used in errors. It stops at the first structural
// problem (header, quoting, encoding, row shape) and returns it as an *Error; it also
// stops when fn returns an error, and returns that error. Values are not validated
// beyond their shape: that is the plan's job.
func ReadManifest(name string, r io.Reader, fn func(Record) error) error {
	return ReadManifestWith(name, r, Options{}, fn)
}

// ReadManifestWith is ReadManifest with options.
func ReadManifestWith(name string, r io.Reader, opts Options, fn func(Record) error) error {
	src, err := newSource(name, r, opts)
	if err != nil {
		return err
	}
	// gocsv decodes on its own goroutine into this channel; a buffer lets it run
	// ahead of fn instead of switching goroutines on every row.
	ch := make(chan row, 512)
	done := make(chan error, 1)
	go func() { done <- gocsv.UnmarshalDecoderToChan(gocsv.NewSimpleDecoderFromCSVReader(src), ch) }()
	var fnErr error
	n := 0
	for rw := range ch {
		if fnErr != nil {
			continue // drain: the source stops at its next Read
		}
		n++
		if err := fn(rw.record(src.hasCollected)); err != nil {
			fnErr = err
			src.stop.Store(true)
		}
	}
	err = <-done
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		var me *Error
		if errors.As(err, &me) {
			return me
		}
		return &Error{File: name, Err: err}
	}
	if n == 0 {
		return &Error{File: name, Line: src.headerLine, Err: detailf(ErrNoRecords,
			"no devices after the header; add one row per device")}
	}
	return nil
}

// row is what gocsv decodes into; the tags are the canonical names that the source's
// header carries whatever the file spelled.
type row struct {
	Line         string `csv:"_line"`
	UserName     string `csv:"user_name"`
	SerialNumber string `csv:"serial_number"`
	Code1        string `csv:"authentication_code1"`
	Code2        string `csv:"authentication_code2"`
	AccountID    string `csv:"account_id"`
	CollectedAt  string `csv:"collected_at"`
	Ticket       string `csv:"ticket"`
}

// UnmarshalCSVWithFields is gocsv's hook for types that decode themselves: a switch
// here costs far less than gocsv's reflective set of each field.
func (r *row) UnmarshalCSVWithFields(key, value string) error {
	switch key {
	case colLine:
		r.Line = value
	case ColUserName:
		r.UserName = value
	case ColSerialNumber:
		r.SerialNumber = value
	case ColCode1:
		r.Code1 = value
	case ColCode2:
		r.Code2 = value
	case ColAccountID:
		r.AccountID = value
	case ColCollectedAt:
		r.CollectedAt = value
	case ColTicket:
		r.Ticket = value
	}
	return nil
}

func (r *row) record(hasCollected bool) Record {
	line, _ := strconv.Atoi(r.Line)
	rec := Record{
		Line:            line,
		UserName:        r.UserName,
		SerialNumber:    r.SerialNumber,
		Code1:           r.Code1,
		Code2:           r.Code2,
		AccountID:       r.AccountID,
		Ticket:          r.Ticket,
		CollectedAtText: r.CollectedAt,
	}
	if hasCollected && r.CollectedAt != "" {
		if t, err := time.Parse(time.RFC3339Nano, r.CollectedAt); err == nil {
			rec.CollectedAt = t
		}
	}
	return rec
}

var errStopped = errors.New("reading stopped")

// source is the gocsv.CSVReader that gocsv decodes from: encoding/csv underneath, so
// that FieldPos gives true line numbers, with the header rewritten to canonical names,
// values trimmed, and every structural problem turned into an *Error.
type source struct {
	name       string
	opts       Options
	csv        *csv.Reader
	lim        *limitReader
	lineOffset int // lines consumed before the csv.Reader started (a sep= line)
	headerLine int
	columns    []int // the file's column index of each column passed to gocsv
	names      []string
	width      int // columns up to the last one with a header; later ones must be empty
	header     bool
	out        []string
	stop       atomic.Bool

	hasCollected bool
}

func newSource(name string, r io.Reader, opts Options) (*source, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	s := &source{name: name, opts: opts}
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return nil, &Error{File: name, Err: detailf(ErrEncoding,
			"the file is UTF-16; save it as \"CSV UTF-8\" (comma-separated)")}
	case bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")):
		br.Discard(3) // the BOM that spreadsheets write before UTF-8 text
	}
	comma := ','
	// Excel writes "sep=;" as a first line to name the separator; honour it.
	if line, _ := br.Peek(8); bytes.HasPrefix(bytes.ToLower(line), []byte("sep=")) {
		full, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, &Error{File: name, Err: err}
		}
		v := strings.TrimRight(full[4:], "\r\n")
		sep, size := utf8.DecodeRuneInString(v)
		if size == 0 || size != len(v) || sep == '"' || sep == '\r' || sep == '\n' || sep == utf8.RuneError {
			return nil, &Error{File: name, Line: 1, Err: detailf(ErrSeparator,
				"a \"sep=\" line must name one separator character, as in \"sep=,\"")}
		}
		comma = sep
		s.lineOffset = 1
	}
	s.lim = &limitReader{r: br, name: name, lineOffset: s.lineOffset, line: 1, recordLine: 1 + s.lineOffset}
	s.csv = csv.NewReader(s.lim)
	s.csv.Comma = comma
	s.csv.FieldsPerRecord = -1 // row shape is checked here, with a better message
	s.csv.ReuseRecord = true
	return s, nil
}

// ReadAll is required by gocsv.CSVReader but never used by streaming decoders.
func (s *source) ReadAll() ([][]string, error) {
	var all [][]string
	for {
		r, err := s.Read()
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return all, err
		}
		all = append(all, append([]string(nil), r...))
	}
}

// Read returns the canonical header first, then each row's values in the header's
// order with the line number appended.
func (s *source) Read() ([]string, error) {
	if s.stop.Load() {
		return nil, errStopped
	}
	rec, err := s.csv.Read()
	if err != nil {
		return nil, s.readError(err)
	}
	s.lim.recordStart = s.csv.InputOffset()
	line, _ := s.csv.FieldPos(0)
	line += s.lineOffset
	s.lim.recordLine = s.fieldLine(len(rec)-1) + 1
	if err := s.checkValues(rec); err != nil {
		return nil, err
	}
	if !s.header {
		s.header = true
		s.headerLine = line
		return s.readHeader(rec, line)
	}
	return s.readRow(rec, line)
}

func (s *source) fieldLine(i int) int {
	l, _ := s.csv.FieldPos(i)
	return l + s.lineOffset
}

// checkValues rejects what no column may hold: invalid UTF-8, NUL bytes (a UTF-16 file
// without a BOM), line breaks (a missing quote swallowed the next rows), and huge values.
func (s *source) checkValues(rec []string) error {
	first, _ := s.csv.FieldPos(0)
	last, _ := s.csv.FieldPos(len(rec) - 1)
	// Only a record that spans lines can hold a line break; the last field may span
	// lines without moving any field's start.
	multiline := first != last
	for i, v := range rec {
		multiline = multiline || i == len(rec)-1
		if len(v) > MaxFieldBytes {
			return s.errAt(i, detailf(ErrTooLong, "value longer than %d bytes", MaxFieldBytes))
		}
		if !utf8.ValidString(v) {
			return s.errAt(i, detailf(ErrEncoding,
				"not valid UTF-8; save the manifest as \"CSV UTF-8\""))
		}
		if strings.IndexByte(v, 0) >= 0 {
			return s.errAt(i, detailf(ErrEncoding,
				"contains NUL bytes; is the file UTF-16? save it as \"CSV UTF-8\""))
		}
		if multiline && (strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0) {
			start := s.fieldLine(i)
			return &Error{File: s.name, Line: start, Column: s.columnName(i), Err: detailf(ErrMultilineValue,
				"a quoted value runs over more than one line; check the quotes on this line")}
		}
	}
	return nil
}

// columnName names file column i for errors: the canonical name once the header is
// known, else its position.
func (s *source) columnName(i int) string {
	if s.header && i < len(s.names) && s.names[i] != "" {
		return s.names[i]
	}
	return fmt.Sprintf("%d", i+1)
}

func (s *source) errAt(i int, err error) error {
	return &Error{File: s.name, Line: s.fieldLine(i), Column: s.columnName(i), Err: err}
}

func (s *source) readError(err error) error {
	if err == io.EOF {
		if !s.header {
			return &Error{File: s.name, Err: detailf(ErrEmpty,
				"empty file; the first line must be the header: %s", strings.Join(Required, ","))}
		}
		return io.EOF
	}
	var me *Error
	if errors.As(err, &me) {
		return me
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		line := pe.Line + s.lineOffset
		start := pe.StartLine + s.lineOffset
		switch {
		case errors.Is(pe.Err, csv.ErrBareQuote):
			return &Error{File: s.name, Line: line, Err: detailf(ErrQuote,
				"a quote inside an unquoted value (byte %d): a spreadsheet formula such as =\"...\", or a stray quote; export values, not formulas, or quote the whole value and double the quotes in it", pe.Column)}
		case errors.Is(pe.Err, csv.ErrQuote) && start != line:
			return &Error{File: s.name, Line: start, Err: detailf(ErrQuote,
				"a quoted value opened on this line is not closed (the file was read up to line %d)", line)}
		case errors.Is(pe.Err, csv.ErrQuote):
			return &Error{File: s.name, Line: line, Err: detailf(ErrQuote,
				"a closing quote must be followed by a comma or the end of the line (byte %d)", pe.Column)}
		}
		return &Error{File: s.name, Line: line, Err: pe.Err}
	}
	return &Error{File: s.name, Err: err}
}

func (s *source) readHeader(rec []string, line int) ([]string, error) {
	all := append(append([]string(nil), Required...), Optional...)
	s.names = make([]string, len(rec))
	s.columns = make([]int, len(all))
	for i := range s.columns {
		s.columns[i] = -1
	}
	if len(rec) > MaxColumns {
		return nil, &Error{File: s.name, Line: line, Err: detailf(ErrHeader,
			"the header has %d columns, more than %d; is this a manifest?", len(rec), MaxColumns)}
	}
	data := looksLikeData(rec)
	for i, h := range rec {
		h = strings.TrimSpace(h)
		if h == "" {
			continue // spreadsheets add empty columns at the end; checked per row
		}
		s.width = i + 1
		canon, ok := canonicalColumn(h)
		if !ok {
			if near := nearColumn(h); near != "" {
				return nil, &Error{File: s.name, Line: line, Err: detailf(ErrHeader,
					"unknown column %q; did you mean %s?", h, near)}
			}
			if data {
				return nil, &Error{File: s.name, Line: line, Err: detailf(ErrHeader,
					"the first line looks like data, not a header; add the header line: %s", strings.Join(Required, ","))}
			}
			if s.opts.Warn != nil {
				s.opts.Warn(&Error{File: s.name, Line: line, Err: fmt.Errorf("unknown column %q is ignored", h)})
			}
			continue
		}
		for j, c := range all {
			if c != canon {
				continue
			}
			if prev := s.columns[j]; prev >= 0 {
				return nil, &Error{File: s.name, Line: line, Err: detailf(ErrHeader,
					"column %s appears twice (columns %d and %d)", canon, prev+1, i+1)}
			}
			s.columns[j] = i
		}
		s.names[i] = canon
	}
	var missing []string
	for j, c := range Required {
		if s.columns[j] < 0 {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		if data {
			return nil, &Error{File: s.name, Line: line, Err: detailf(ErrHeader,
				"the first line looks like data, not a header; add the header line: %s", strings.Join(Required, ","))}
		}
		if len(rec) == 1 && strings.ContainsAny(rec[0], ";\t|") {
			return nil, &Error{File: s.name, Line: line, Err: detailf(ErrMissingColumn,
				"the header has one column; if the file uses another separator, add the line \"sep=%c\" before the header or save it comma-separated",
				rec[0][strings.IndexAny(rec[0], ";\t|")])}
		}
		return nil, &Error{File: s.name, Line: line, Err: detailf(ErrMissingColumn,
			"missing column %s; the header must name %s", strings.Join(missing, ", "), strings.Join(Required, ","))}
	}
	s.hasCollected = s.columns[len(Required)+1] >= 0
	// Only the columns present go to gocsv: each one costs a reflective set per row.
	var header []string
	var present []int
	for j, i := range s.columns {
		if i >= 0 {
			header = append(header, all[j])
			present = append(present, i)
		}
	}
	s.columns = present
	s.out = make([]string, len(header)+1)
	header = append(header, colLine)
	return header, nil
}

func (s *source) readRow(rec []string, line int) ([]string, error) {
	if len(rec) < s.width {
		return nil, &Error{File: s.name, Line: line, Err: detailf(ErrFieldCount,
			"%d values, but the header names %d columns", len(rec), s.width)}
	}
	for i := s.width; i < len(rec); i++ {
		if strings.TrimSpace(rec[i]) != "" {
			return nil, &Error{File: s.name, Line: line, Err: detailf(ErrFieldCount,
				"%d values, but the header names %d columns (value in column %d has no header)", len(rec), s.width, i+1)}
		}
	}
	for j, i := range s.columns {
		s.out[j] = strings.TrimSpace(rec[i])
	}
	s.out[len(s.out)-1] = strconv.Itoa(line)
	return s.out, nil
}

// canonicalColumn maps a header to its canonical name: case, spaces, '_' and '-' do not
// matter, so IAM's names (UserName, AuthenticationCode1) match too.
func canonicalColumn(h string) (string, bool) {
	switch squash(h) {
	case "username":
		return ColUserName, true
	case "serialnumber":
		return ColSerialNumber, true
	case "authenticationcode1":
		return ColCode1, true
	case "authenticationcode2":
		return ColCode2, true
	case "accountid":
		return ColAccountID, true
	case "collectedat":
		return ColCollectedAt, true
	case "ticket":
		return ColTicket, true
	}
	return "", false
}

func squash(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		if r == '_' || r == '-' || r == ' ' || r == '\u200b' || r == '\ufeff' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// nearColumn returns the known column a header is probably a typo of, or "".
func nearColumn(h string) string {
	sq := squash(h)
	best, bestD := "", 3
	for _, c := range append(append([]string(nil), Required...), Optional...) {
		if d := editDistance(sq, squash(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// looksLikeData reports whether a first line holds a code-like value, i.e. the header
// line is missing.
func looksLikeData(rec []string) bool {
	for _, v := range rec {
		v = strings.TrimSpace(v)
		if len(v) >= 4 && len(v) <= 6 && strings.Trim(v, "0123456789") == "" {
			return true
		}
		if strings.HasPrefix(v, "arn:") {
			return true
		}
	}
	return false
}

// limitReader fails on a physical line longer than MaxLineBytes, or a record running
// far past its start (an unclosed quote), before encoding/csv buffers it whole.
type limitReader struct {
	r           io.Reader
	name        string
	lineOffset  int
	line        int   // current physical line, counting from 1
	run         int   // bytes since the last newline
	n           int64 // bytes read so far
	recordStart int64 // input offset where the current record starts
	recordLine  int   // about where it starts, for the error
}

const maxRecordBytes = 4 * MaxLineBytes

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	// Whole-chunk scans rather than one call per line: this runs on every byte.
	b := p[:n]
	if first := bytes.IndexByte(b, '\n'); first < 0 {
		l.run += n
	} else {
		if l.run+first <= MaxLineBytes {
			l.line += bytes.Count(b, []byte{'\n'})
			l.run = n - bytes.LastIndexByte(b, '\n') - 1
		} else {
			l.run += first
		}
	}
	if l.run > MaxLineBytes {
		return 0, &Error{File: l.name, Line: l.line + l.lineOffset, Err: detailf(ErrTooLong,
			"line longer than %d bytes; is this a CSV manifest?", MaxLineBytes)}
	}
	l.n += int64(n)
	if l.n-l.recordStart > maxRecordBytes+int64(len(p)) {
		return 0, &Error{File: l.name, Line: l.recordLine, Err: detailf(ErrQuote,
			"a row runs over more than %d bytes; is a quote not closed?", maxRecordBytes)}
	}
	return n, err
}
