package tpmtoken

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Entry is one device in the store: who it belongs to, and its TPM-wrapped key. It
// holds nothing that computes codes without the TPM that made it.
type Entry struct {
	SerialNumber string    `json:"serial_number"`
	UserName     string    `json:"user_name"`
	AccountID    string    `json:"account_id,omitempty"`
	DeviceName   string    `json:"device_name,omitempty"`
	KeyAuth      bool      `json:"key_auth"`         // the key needs an authValue
	StorageKey   []byte    `json:"storage_key_name"` // the name of the SRK it is wrapped under
	Created      time.Time `json:"created"`
	Source       string    `json:"source"` // "provision-tpm" or "import-tpm"
	Key          Key       `json:"key"`
}

// Store is a directory of entries, one file per IAM serial number.
type Store struct {
	dir string
}

// storeVersion tags entry files so a later format can tell them apart.
const storeVersion = 1

type entryFile struct {
	Version int `json:"version"`
	Entry
}

// DefaultStoreDir is $XDG_DATA_HOME/tokenbatch/tpm, or ~/.local/share/tokenbatch/tpm.
func DefaultStoreDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "tokenbatch", "tpm"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%w: no home directory for the default store (%v); use --tpm-store DIR", ErrStore, err)
	}
	return filepath.Join(home, ".local", "share", "tokenbatch", "tpm"), nil
}

// OpenStore opens the store in dir ("" for DefaultStoreDir), creating it with mode
// 0700 if create is set. A directory that others can read or write is refused.
func OpenStore(dir string, create bool) (*Store, error) {
	if dir == "" {
		d, err := DefaultStoreDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: creating %s: %v", ErrStore, dir, err)
		}
		// MkdirAll's mode is filtered by the umask; this makes sure it is exactly 0700.
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrStore, err)
		}
		fi, err = os.Stat(dir)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist; provision or import a device first, or give --tpm-store", ErrStore, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrStore, dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is accessible to other users (mode %o); run chmod 700 %s", ErrStore, dir, fi.Mode().Perm(), dir)
	}
	return &Store{dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// fileName derives a file name from a serial number, which holds ':' and '/'.
func fileName(serial string) string {
	h := sha256.Sum256([]byte(serial))
	return "mfa-" + hex.EncodeToString(h[:12]) + ".json"
}

// Put adds e. It refuses to replace an existing entry for the same serial number, so
// a key that still works is never lost by mistake: Delete it first.
func (s *Store) Put(e Entry) error {
	if e.SerialNumber == "" {
		return fmt.Errorf("%w: an entry needs a serial number", ErrStore)
	}
	data, err := json.MarshalIndent(entryFile{Version: storeVersion, Entry: e}, "", "  ")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	data = append(data, '\n')
	path := filepath.Join(s.dir, fileName(e.SerialNumber))
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes files 0600; written whole, then linked in place, so a crash
	// leaves no half entry.
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	// Link fails if the name exists, unlike Rename, so two imports cannot race.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s (store %s); to replace it, remove it first with 'tokenbatch tokens delete-tpm'", ErrExists, e.SerialNumber, s.dir)
		}
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	return nil
}

// Get returns the entry for serial.
func (s *Store) Get(serial string) (Entry, error) {
	e, err := s.read(filepath.Join(s.dir, fileName(serial)))
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, fmt.Errorf("%w: %s (store %s); see 'tokenbatch tokens list --tpm'", ErrNotFound, serial, s.dir)
	}
	if err != nil {
		return Entry{}, err
	}
	if e.SerialNumber != serial {
		return Entry{}, fmt.Errorf("%w: %s holds %s, not %s", ErrStore, fileName(serial), e.SerialNumber, serial)
	}
	return e, nil
}

// Delete removes the entry for serial; a missing entry is not an error.
func (s *Store) Delete(serial string) error {
	err := os.Remove(filepath.Join(s.dir, fileName(serial)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	return nil
}

// List returns every entry, ordered by account, user and serial number.
func (s *Store) List() ([]Entry, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	var out []Entry
	for _, de := range des {
		if de.IsDir() || !strings.HasPrefix(de.Name(), "mfa-") || !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		e, err := s.read(filepath.Join(s.dir, de.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.AccountID != b.AccountID {
			return a.AccountID < b.AccountID
		}
		if a.UserName != b.UserName {
			return a.UserName < b.UserName
		}
		return a.SerialNumber < b.SerialNumber
	})
	return out, nil
}

func (s *Store) read(path string) (Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Entry{}, err
		}
		return Entry{}, fmt.Errorf("%w: %v", ErrStore, err)
	}
	var ef entryFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&ef); err != nil {
		return Entry{}, fmt.Errorf("%w: %s does not parse: %v", ErrStore, path, err)
	}
	if ef.Version != storeVersion {
		return Entry{}, fmt.Errorf("%w: %s has format version %d; this tokenbatch reads version %d", ErrStore, path, ef.Version, storeVersion)
	}
	return ef.Entry, nil
}
