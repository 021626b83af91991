package reader

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func readAll(t *testing.T, in string) ([]Record, []string, error) {
	t.Helper()
	var recs []Record
	var warns []string
	err := ReadManifestWith("m.csv", strings.NewReader(in), Options{Warn: func(e *Error) { warns = append(warns, e.Error()) }},
		func(r Record) error { recs = append(recs, r); return nil })
	return recs, warns, err
}

func TestReadManifestRecords(t *testing.T) {
	const arn = "arn:aws:iam::123456789012:mfa/alice"
	collected := time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		in    string
		want  []Record
		warns int
	}{
		{"plain", "user_name,serial_number,authentication_code1,authentication_code2\nalice," + arn + ",123456,234567\n",
			[]Record{{Line: 2, UserName: "alice", SerialNumber: arn, Code1: "123456", Code2: "234567"}}, 0},
		{"no final newline", "user_name,serial_number,authentication_code1,authentication_code2\nalice," + arn + ",123456,234567",
			[]Record{{Line: 2, UserName: "alice", SerialNumber: arn, Code1: "123456", Code2: "234567"}}, 0},
		{"bom crlf blank lines spaces", "\uFEFF\r\n User_Name ,SERIAL_NUMBER,authentication_code1,authentication_code2\r\n\r\n\r\n alice ,\t" + arn + " , 123456 ,\"234567 \"\r\n",
			[]Record{{Line: 5, UserName: "alice", SerialNumber: arn, Code1: "123456", Code2: "234567"}}, 0},
		{"iam names, other order, optional columns", "AuthenticationCode2,AuthenticationCode1,SerialNumber,UserName,Account-ID,Collected At,Ticket\n234567,123456," + arn + ",alice,123456789012,2026-03-01T11:59:00Z,CHG-1\n",
			[]Record{{Line: 2, UserName: "alice", SerialNumber: arn, Code1: "123456", Code2: "234567", AccountID: "123456789012",
				CollectedAt: collected, CollectedAtText: "2026-03-01T11:59:00Z", Ticket: "CHG-1"}}, 0},
		{"bad collected_at kept as text", "user_name,serial_number,authentication_code1,authentication_code2,collected_at\nalice," + arn + ",123456,234567,yesterday\n",
			[]Record{{Line: 2, UserName: "alice", SerialNumber: arn, Code1: "123456", Code2: "234567", CollectedAtText: "yesterday"}}, 0},
		{"sep line and trailing empty columns", "sep=;\r\nuser_name;serial_number;authentication_code1;authentication_code2;;\r\nalice;" + arn + ";123456;234567;;\r\nbob;GAHT12345678;111111;222222\r\n",
			[]Record{{Line: 3, UserName: "alice", SerialNumber: arn, Code1: "123456", Code2: "234567"},
				{Line: 4, UserName: "bob", SerialNumber: "GAHT12345678", Code1: "111111", Code2: "222222"}}, 0},
		{"unknown column warns", "user_name,serial_number,authentication_code1,authentication_code2,email\nalice," + arn + ",123456,234567,a@example.com\n",
			[]Record{{Line: 2, UserName: "alice", SerialNumber: arn, Code1: "123456", Code2: "234567"}}, 1},
		{"quoted comma in ticket", "user_name,serial_number,authentication_code1,authentication_code2,ticket\nalice," + arn + ",123456,234567,\"CHG-1, urgent\"\n",
			[]Record{{Line: 2, UserName: "alice", SerialNumber: arn, Code1: "123456", Code2: "234567", Ticket: "CHG-1, urgent"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warns, err := readAll(t, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], tc.want[i])
				}
			}
			if len(warns) != tc.warns {
				t.Errorf("warnings %q, want %d", warns, tc.warns)
			}
		})
	}
}

func TestReadManifestErrors(t *testing.T) {
	const h = "user_name,serial_number,authentication_code1,authentication_code2\n"
	const ok = "alice,arn:aws:iam::123456789012:mfa/alice,123456,234567\n"
	for _, tc := range []struct {
		name   string
		in     string
		sent   error
		line   int
		column string
		msg    string
	}{
		{"empty", "", ErrEmpty, 0, "", "m.csv: empty file"},
		{"header only", h, ErrNoRecords, 1, "", "m.csv:1: no devices after the header"},
		{"missing column", "user_name,serial_number,authentication_code1\n", ErrMissingColumn, 1, "", "missing column authentication_code2"},
		{"typo", "user_name,serial_numbr,authentication_code1,authentication_code2\n", ErrHeader, 1, "", "did you mean serial_number?"},
		{"twice", "user_name,serial_number,authentication_code1,authentication_code2,username\n", ErrHeader, 1, "", "appears twice"},
		{"no header", ok, ErrHeader, 1, "", "looks like data"},
		{"short row", h + ok + "\n\nbob,x,1\n", ErrFieldCount, 5, "", "m.csv:5: 3 values, but the header names 4 columns"},
		{"long row", h + ok + "bob,GAHT12345678,111111,222222,x\n", ErrFieldCount, 3, "", "value in column 5 has no header"},
		{"bare quote", h + "al\"ice,x,1,2\n", ErrQuote, 2, "", "m.csv:2: a quote inside an unquoted value"},
		{"unclosed quote", h + ok + "\"bob,x,1,2\ncarol,x,1,2\n", ErrQuote, 3, "", "m.csv:3: a quoted value opened on this line is not closed"},
		{"multi-line value", h + ok + "bob,\"GAHT\n1234\",1,2\n", ErrMultilineValue, 3, ColSerialNumber, "m.csv:3: column serial_number: a quoted value runs over"},
		{"multi-line last value", h + ok + "bob,GAHT1234,1,\"2\n\"\n", ErrMultilineValue, 3, ColCode2, "column authentication_code2"},
		{"latin-1", h + ok + "ren\xe9,x,1,2\n", ErrEncoding, 3, ColUserName, "m.csv:3: column user_name: not valid UTF-8"},
		{"utf-16", "\xff\xfeu\x00s\x00", ErrEncoding, 0, "", "UTF-16"},
		{"nul", h + "a\x00b,x,1,2\n", ErrEncoding, 2, ColUserName, "NUL"},
		{"huge value", h + "bob," + strings.Repeat("s", MaxFieldBytes+1) + ",1,2\n", ErrTooLong, 2, ColSerialNumber, "longer than 1024 bytes"},
		{"huge line", h + ok + strings.Repeat("z", MaxLineBytes+10), ErrTooLong, 3, "", "m.csv:3: line longer than"},
		{"runaway quote", h + ok + "\"" + strings.Repeat(strings.Repeat("q", 100)+"\n", 5000), ErrQuote, 3, "", "is a quote not closed?"},
		{"bad sep", "sep=\n" + h, ErrSeparator, 1, "", "sep="},
		{"semicolons", "user_name;serial_number;authentication_code1;authentication_code2\n", ErrMissingColumn, 1, "", `add the line "sep=;"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, tc.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if !errors.Is(err, tc.sent) {
				t.Errorf("error %v is not %v", err, tc.sent)
			}
			if e.Line != tc.line || e.Column != tc.column || e.File != "m.csv" {
				t.Errorf("error at %s:%d column %q, want line %d column %q", e.File, e.Line, e.Column, tc.line, tc.column)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
			if err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] {
				t.Errorf("error %q starts with a capital", err)
			}
		})
	}
}

// TestReadManifestStopsAtCallbackError checks that fn's error is returned and ends the
// stream early, without a goroutine left behind.
func TestReadManifestStopsAtCallbackError(t *testing.T) {
	var b strings.Builder
	b.WriteString("user_name,serial_number,authentication_code1,authentication_code2\n")
	for range 5000 {
		b.WriteString("alice,GAHT12345678,123456,234567\n")
	}
	stop := errors.New("stop")
	n := 0
	err := ReadManifest("m.csv", strings.NewReader(b.String()), func(Record) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Errorf("err %v after %d records; want stop after 10", err, n)
	}
}

// TestReadManifestReadError checks that an I/O error is passed on.
func TestReadManifestReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("user_name,serial_number,authentication_code1,authentication_code2\nalice,"), errReader{boom})
	err := ReadManifest("m.csv", r, func(Record) error { return nil })
	if !errors.Is(err, boom) {
		t.Errorf("err %v, want %v", err, boom)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// FuzzReadManifest checks that any input either reads or fails with an *Error that
// names the file, and that valid UTF-8 comes out.
func FuzzReadManifest(f *testing.F) {
	f.Add([]byte("user_name,serial_number,authentication_code1,authentication_code2\nalice,GAHT12345678,123456,234567\n"))
	f.Add([]byte("sep=;\nUserName;SerialNumber;AuthenticationCode1;AuthenticationCode2;;\n\"a\";b;c;d;;\n"))
	f.Add([]byte("\xef\xbb\xbfuser_name,serial_number,authentication_code1,authentication_code2,ticket\r\n\"a\"\"b\",c,d,e,\"f\ng\"\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ReadManifest("f.csv", bytes.NewReader(data), func(r Record) error {
			for _, v := range []string{r.UserName, r.SerialNumber, r.Code1, r.Code2, r.AccountID, r.Ticket, r.CollectedAtText} {
				if !utf8.ValidString(v) || strings.ContainsAny(v, "\r\n\x00") || len(v) > MaxFieldBytes {
					t.Fatalf("value %q passed", v)
				}
			}
			if r.Line < 2 {
				t.Fatalf("record on line %d", r.Line)
			}
			return nil
		})
		var e *Error
		if err != nil && (!errors.As(err, &e) || e.File != "f.csv") {
			t.Fatalf("error %v (%T) is not an *Error for f.csv", err, err)
		}
	})
}
