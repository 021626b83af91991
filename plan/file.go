package plan

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// FileFormat names the plan file's format; Load refuses any other.
const FileFormat = "tokenbatch-plan/1"

// ErrPlanFile is wrapped by Load's errors about the file's content.
var ErrPlanFile = errors.New("bad plan file")

type fileHeader struct {
	Format         string         `json:"format"`
	CreatedAt      time.Time      `json:"created_at"`
	AccountID      string         `json:"account_id,omitempty"`
	Partition      string         `json:"partition,omitempty"`
	Offline        bool           `json:"offline,omitempty"`
	Source         string         `json:"source"`
	ManifestDigest string         `json:"manifest_digest,omitempty"`
	MaxCodeAge     string         `json:"max_code_age"`
	ErrorRows      int            `json:"error_rows"`
	Problems       []Problem      `json:"problems"`
	Omitted        map[string]int `json:"omitted_problems,omitempty"`
}

type fileDevice struct {
	Line         int       `json:"line,omitempty"`
	UserName     string    `json:"user_name"`
	SerialNumber string    `json:"serial_number"`
	AccountID    string    `json:"account_id,omitempty"`
	Code1        string    `json:"authentication_code1,omitempty"`
	Code2        string    `json:"authentication_code2,omitempty"`
	CollectedAt  time.Time `json:"collected_at,omitzero"`
	Ticket       string    `json:"ticket,omitempty"`
	Token        *Token    `json:"token,omitempty"`
}

func toFile(d Device) fileDevice {
	return fileDevice{Line: d.Line, UserName: d.UserName, SerialNumber: d.SerialNumber, AccountID: d.AccountID,
		Code1: d.Code1, Code2: d.Code2, CollectedAt: d.CollectedAt, Ticket: d.Ticket, Token: d.Token}
}

// Save writes the plan as JSON to path, created with mode 0600 because it holds codes,
// and atomically: a temporary file in the same directory, synced, then renamed. The
// header comes first and the devices one per line, so a million devices stream out.
func (p *Plan) Save(path string) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	if err := p.write(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func (p *Plan) write(w *bufio.Writer) error {
	problems := p.Problems
	if problems == nil {
		problems = []Problem{}
	}
	h, err := json.Marshal(fileHeader{Format: FileFormat, CreatedAt: p.CreatedAt, AccountID: p.AccountID,
		Partition: p.Partition, Offline: p.Offline, Source: p.Source, ManifestDigest: p.ManifestDigest,
		MaxCodeAge: p.MaxCodeAge.String(), ErrorRows: p.errors, Problems: problems, Omitted: p.OmittedProblems})
	if err != nil {
		return err
	}
	w.Write(h[:len(h)-1]) // leave the object open for the device lists
	list := func(key string, n int, dev func(int) Device) error {
		fmt.Fprintf(w, ",\n%q: [", key)
		for i := range n {
			b, err := json.Marshal(toFile(dev(i)))
			if err != nil {
				return err
			}
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString("\n")
			w.Write(b)
		}
		_, err := w.WriteString("\n]")
		return err
	}
	if err := list("devices", p.Len(), p.Device); err != nil {
		return err
	}
	invalid := p.Invalid()
	if err := list("invalid", len(invalid), func(i int) Device { return invalid[i] }); err != nil {
		return err
	}
	_, err = w.WriteString("\n}\n")
	return err
}

// Load reads a plan written by Save. The devices keep their saved order.
func Load(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := read(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func read(r io.Reader) (*Plan, error) {
	dec := json.NewDecoder(r)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrPlanFile, fmt.Sprintf(format, args...))
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad("not a JSON object")
	}
	var h fileHeader
	p := &Plan{}
	var devices, invalid []fileDevice
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, bad("%v", err)
		}
		key, _ := t.(string)
		seen[key] = true
		switch key {
		case "devices", "invalid":
			if t, err := dec.Token(); err != nil || t != json.Delim('[') {
				return nil, bad("%s is not a list", key)
			}
			for dec.More() {
				var d fileDevice
				if err := dec.Decode(&d); err != nil {
					return nil, bad("%s: %v", key, err)
				}
				if key == "devices" {
					devices = append(devices, d)
				} else {
					invalid = append(invalid, d)
				}
			}
			if _, err := dec.Token(); err != nil {
				return nil, bad("%v", err)
			}
		case "format":
			if err := dec.Decode(&h.Format); err != nil {
				return nil, bad("%v", err)
			}
		case "created_at":
			err = dec.Decode(&h.CreatedAt)
		case "account_id":
			err = dec.Decode(&h.AccountID)
		case "partition":
			err = dec.Decode(&h.Partition)
		case "offline":
			err = dec.Decode(&h.Offline)
		case "source":
			err = dec.Decode(&h.Source)
		case "manifest_digest":
			err = dec.Decode(&h.ManifestDigest)
		case "max_code_age":
			err = dec.Decode(&h.MaxCodeAge)
		case "problems":
			err = dec.Decode(&h.Problems)
		case "error_rows":
			err = dec.Decode(&h.ErrorRows)
		case "omitted_problems":
			err = dec.Decode(&h.Omitted)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return nil, bad("%s: %v", key, err)
		}
	}
	if h.Format != FileFormat {
		return nil, bad("format %q, want %q", h.Format, FileFormat)
	}
	if !seen["created_at"] || !seen["devices"] {
		return nil, bad("no created_at or devices")
	}
	age, err := time.ParseDuration(h.MaxCodeAge)
	if err != nil {
		return nil, bad("max_code_age: %v", err)
	}
	p.CreatedAt, p.AccountID, p.Partition, p.Source = h.CreatedAt, h.AccountID, h.Partition, h.Source
	p.Offline = h.Offline
	p.ManifestDigest, p.MaxCodeAge, p.Problems = h.ManifestDigest, age, h.Problems
	// Rebuild the store: the valid devices first, in their saved order, then the
	// invalid ones. Codes are checked again: a hand-edited plan gets no free pass.
	add := func(d fileDevice, valid bool) error {
		e := entry{line: uint32(d.Line), flags: 0}
		if !d.CollectedAt.IsZero() {
			e.flags |= flagCollected
			e.collected = d.CollectedAt.UnixNano()
		}
		if valid && (d.Code1 != "" || d.Code2 != "") {
			if c, _ := codeProblem(d.Code1); c != "" {
				return bad("line %d: authentication_code1 is not six digits", d.Line)
			}
			if c, _ := codeProblem(d.Code2); c != "" {
				return bad("line %d: authentication_code2 is not six digits", d.Line)
			}
			e.flags |= flagCodes
			e.code1, e.code2 = parseCode(d.Code1), parseCode(d.Code2)
			p.hasCodes = true
			if !d.CollectedAt.IsZero() && (p.oldest.IsZero() || d.CollectedAt.Before(p.oldest)) {
				p.oldest = d.CollectedAt
			}
		}
		if !valid {
			e.flags |= flagInvalid
		}
		a, err := p.st.internAccount(d.AccountID)
		if err != nil {
			return err
		}
		e.account = a
		i, err := p.st.add(e, d.UserName, d.SerialNumber, d.Ticket)
		if err != nil {
			return err
		}
		if d.Token != nil {
			if p.st.tokens == nil {
				p.st.tokens = map[int]*Token{}
			}
			p.st.tokens[i] = d.Token
		}
		if valid {
			p.valid++
		} else {
			p.invalid = append(p.invalid, uint32(i))
		}
		return nil
	}
	for _, d := range devices {
		if d.UserName == "" || d.SerialNumber == "" {
			return nil, bad("line %d: a device without user_name or serial_number", d.Line)
		}
		if err := p.bindDevice(d); err != nil {
			return nil, bad("%v", err)
		}
		if err := add(d, true); err != nil {
			return nil, err
		}
	}
	for _, d := range invalid {
		if err := add(d, false); err != nil {
			return nil, err
		}
	}
	p.errors, p.OmittedProblems = h.ErrorRows, h.Omitted
	return p, nil
}

// bindDevice checks that a valid device of a loaded plan is of the plan's account and
// partition, and takes them from the device when the header names none (plans saved
// offline before the header carried them). Apply checks the credentials against the
// header only, so a hand-edited device must not name another account.
func (p *Plan) bindDevice(d fileDevice) error {
	accounts := []string{d.AccountID}
	part, acct, _, _, isARN := parseARN(d.SerialNumber)
	if isARN {
		accounts = append(accounts, acct)
		if p.Partition == "" {
			p.Partition = part
		} else if part != p.Partition {
			return fmt.Errorf("line %d: device in partition %s, but the plan is for partition %s", d.Line, part, p.Partition)
		}
	}
	for _, a := range accounts {
		switch {
		case a == "":
		case p.AccountID == "":
			p.AccountID = a
		case a != p.AccountID:
			return fmt.Errorf("line %d: device of account %s, but the plan is for account %s", d.Line, a, p.AccountID)
		}
	}
	return nil
}
