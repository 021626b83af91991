package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// File names inside a report directory.
const (
	CSVName   = "report.csv"
	JSONLName = "report.jsonl"
	JUnitName = "report.junit.xml"
)

// Header is the CSV header row, in column order.
var Header = []string{
	"user_name", "serial_number", "account_id", "status", "error_code", "error_message",
	"request_id", "attempts", "started_at", "finished_at", "duration_ms", "line", "ticket",
	"token_serial", "attestation",
}

// Write writes rows to dir as report.csv, report.jsonl and report.junit.xml, each
// mode 0600 and replaced atomically, so a reader never sees half a report.
func Write(dir string, rows []Outcome) error {
	for _, f := range []struct {
		name  string
		write func(io.Writer, []Outcome) error
	}{{CSVName, WriteCSV}, {JSONLName, WriteJSONL}, {JUnitName, WriteJUnit}} {
		if err := writeFile(filepath.Join(dir, f.name), func(w io.Writer) error { return f.write(w, rows) }); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("cannot write report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot write report: %w", err)
	}
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err := write(bw); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot write %s: %w", filepath.Base(path), err)
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot write %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot write %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", filepath.Base(path), err)
	}
	return os.Rename(tmp.Name(), path)
}

// WriteCSV writes rows as CSV with a header row. Cells a spreadsheet would evaluate as
// a formula are escaped (see EscapeCell).
func WriteCSV(w io.Writer, rows []Outcome) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	rec := make([]string, len(Header))
	for i := range rows {
		r := &rows[i]
		rec[0] = r.UserName
		rec[1] = r.SerialNumber
		rec[2] = r.AccountID
		rec[3] = string(r.Status)
		rec[4] = r.ErrorCode
		rec[5] = r.ErrorMessage
		rec[6] = r.RequestID
		rec[7] = strconv.Itoa(r.Attempts)
		rec[8] = formatTime(r.StartedAt)
		rec[9] = formatTime(r.FinishedAt)
		rec[10] = strconv.FormatInt(r.DurationMS, 10)
		rec[11] = ""
		if r.Line > 0 {
			rec[11] = strconv.Itoa(r.Line)
		}
		rec[12] = r.Ticket
		rec[13] = r.TokenSerial
		rec[14] = r.Attestation
		for j := range rec {
			rec[j] = EscapeCell(rec[j])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// EscapeCell prefixes a cell that starts with = + - @ tab or carriage return with a
// single quote, as OWASP recommends against CSV formula injection: user names and IAM
// messages are not ours to trust.
func EscapeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// WriteJSONL writes one JSON object per row.
func WriteJSONL(w io.Writer, rows []Outcome) error {
	enc := json.NewEncoder(w)
	for i := range rows {
		r := rows[i]
		r.StartedAt, r.FinishedAt = r.StartedAt.UTC(), r.FinishedAt.UTC()
		if err := enc.Encode(&r); err != nil {
			return err
		}
	}
	return nil
}

type junitSuites struct {
	XMLName  xml.Name   `xml:"testsuites"`
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Errors   int        `xml:"errors,attr"`
	Skipped  int        `xml:"skipped,attr"`
	Time     string     `xml:"time,attr"`
	Suites   []junitSut `xml:"testsuite"`
}

type junitSut struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes rows as JUnit XML, one test case per device (class name the user,
// name the serial), so CI systems show a run like a test suite: failed devices are
// failures, in_doubt devices errors, skipped and not_attempted devices skipped.
func WriteJUnit(w io.Writer, rows []Outcome) error {
	s := junitSut{Name: "tokenbatch resync", Tests: len(rows), Cases: make([]junitCase, 0, len(rows))}
	var total int64
	for i := range rows {
		r := &rows[i]
		total += r.DurationMS
		c := junitCase{Name: r.SerialNumber, ClassName: r.UserName, Time: seconds(r.DurationMS)}
		msg := r.ErrorMessage
		if r.ErrorCode != "" {
			msg = r.ErrorCode + ": " + msg
		}
		detail := fmt.Sprintf("status=%s attempts=%d request_id=%s", r.Status, r.Attempts, r.RequestID)
		switch r.Status {
		case Failed:
			s.Failures++
			c.Failure = &junitProblem{Message: msg, Type: r.ErrorCode, Text: detail}
		case InDoubt:
			s.Errors++
			c.Error = &junitProblem{Message: msg, Type: string(InDoubt), Text: detail}
		case Skipped, NotAttempted:
			s.Skipped++
			c.Skipped = &junitProblem{Message: strings.TrimSpace(string(r.Status) + " " + msg)}
		}
		s.Cases = append(s.Cases, c)
	}
	s.Time = seconds(total)
	doc := junitSuites{Name: "tokenbatch", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors,
		Skipped: s.Skipped, Time: s.Time, Suites: []junitSut{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64) }
