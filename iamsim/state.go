package iamsim

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// state is the account's mutable state. mu guards the maps, the sorted indexes, and
// every device's assignment (user, enableDate); each device's own mu guards its TOTP
// state (drift, lastStep), so resyncs of different devices never wait for each other.
type state struct {
	mu             sync.RWMutex
	accountID      string
	users          map[string]*userState
	userNames      []string // sorted
	devices        map[string]*deviceState
	virtualSerials []string // sorted
	roles          map[string]*roleState
	keys           map[string]*keyState
	defaultKey     *keyState
}

type userState struct {
	name, path, id, arn string
	created             time.Time
	devices             []*deviceState // assigned, in enable order
}

type roleState struct {
	name, path, id, arn string
	requiresMFA         bool
	maxSession          int
}

type deviceState struct {
	serial string
	kind   string

	// guarded by state.mu
	user       *userState
	enableDate time.Time

	mu       sync.Mutex
	otp      *totp
	drift    int
	lastStep int64
	hasLast  bool
}

type keyState struct {
	id, secret string
	user       *userState // nil: root or a role session
	arn        string     // the caller's ARN
	userID     string     // GetCallerIdentity's UserId
	deny       []string
	expires    *time.Time

	session      bool
	sessionToken string
	role         *roleState
	parent       *keyState // the long-term key a GetSessionToken session came from
}

func newKeyState(k AccessKey) *keyState {
	ks := &keyState{id: k.AccessKeyID, secret: k.SecretAccessKey, deny: append([]string(nil), k.DenyActions...)}
	if k.Expires != nil {
		t := *k.Expires
		ks.expires = &t
	}
	return ks
}

// denies reports whether the key's deny list covers service:action.
func (k *keyState) denies(service, action string) bool {
	deny := k.deny
	if k.parent != nil {
		deny = k.parent.deny
	}
	for _, d := range deny {
		if d == "*" || d == action || d == service+":"+action || d == service+":*" {
			return true
		}
	}
	return false
}

func constantEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (st *state) load(f *Fleet, now time.Time) error {
	st.accountID = f.AccountID
	st.users = make(map[string]*userState, len(f.Users))
	st.userNames = make([]string, 0, len(f.Users))
	for _, u := range f.Users {
		us := &userState{name: u.UserName, path: u.Path, id: u.UserID, created: u.CreateDate}
		if us.path == "" {
			us.path = "/"
		}
		if us.id == "" {
			us.id = derivedID("AIDA", f.AccountID+"/"+u.UserName)
		}
		if us.created.IsZero() {
			us.created = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		us.arn = "arn:aws:iam::" + f.AccountID + ":user" + us.path + u.UserName
		st.users[u.UserName] = us
		st.userNames = append(st.userNames, u.UserName)
	}
	sort.Strings(st.userNames)
	st.roles = make(map[string]*roleState, len(f.Roles))
	for _, r := range f.Roles {
		rs := &roleState{name: r.RoleName, path: r.Path, id: r.RoleID, requiresMFA: r.RequiresMFA, maxSession: r.MaxSessionDuration}
		if rs.path == "" {
			rs.path = "/"
		}
		if rs.id == "" {
			rs.id = derivedID("AROA", f.AccountID+"/"+r.RoleName)
		}
		if rs.maxSession == 0 {
			rs.maxSession = 3600
		}
		rs.arn = "arn:aws:iam::" + f.AccountID + ":role" + rs.path + r.RoleName
		st.roles[r.RoleName] = rs
	}
	st.devices = make(map[string]*deviceState, len(f.Devices))
	for _, d := range f.Devices {
		seed, err := DecodeSeed(d.Seed)
		if err != nil {
			return err // Validate already checked it
		}
		ds := &deviceState{serial: d.SerialNumber, kind: d.Kind, otp: newTOTP(seed), drift: d.ServerDriftSteps}
		if d.UserName != "" {
			ds.user = st.users[d.UserName]
			ds.user.devices = append(ds.user.devices, ds)
			if d.EnableDate != nil {
				ds.enableDate = d.EnableDate.UTC()
			} else {
				ds.enableDate = ds.user.created
			}
		}
		st.devices[d.SerialNumber] = ds
		if d.Kind == KindVirtual {
			st.virtualSerials = append(st.virtualSerials, d.SerialNumber)
		}
	}
	sort.Strings(st.virtualSerials)
	st.keys = make(map[string]*keyState, len(f.AccessKeys))
	for i, k := range f.AccessKeys {
		ks := newKeyState(k)
		st.bindKey(ks, k.UserName)
		st.keys[k.AccessKeyID] = ks
		if i == 0 {
			st.defaultKey = ks
		}
	}
	if st.defaultKey == nil {
		st.defaultKey = &keyState{}
		st.bindKey(st.defaultKey, "")
	}
	return nil
}

func (st *state) bindKey(ks *keyState, userName string) {
	if userName != "" {
		ks.user = st.users[userName]
		ks.arn = ks.user.arn
		ks.userID = ks.user.id
		return
	}
	ks.arn = "arn:aws:iam::" + st.accountID + ":root"
	ks.userID = st.accountID
}

// LedgerEntry is one state-changing call as the ledger records it. It never holds codes.
type LedgerEntry struct {
	Action       string    `json:"action"`
	UserName     string    `json:"user_name"`
	SerialNumber string    `json:"serial_number"`
	Outcome      string    `json:"outcome"` // "ok", an error code, or "dropped"
	RequestID    string    `json:"request_id"`
	Time         time.Time `json:"time"`
	// Fault is "drop" or "lost-reply" when a fault was injected into the call.
	Fault string `json:"fault,omitempty"`
}

type ledger struct {
	mu      sync.Mutex
	entries []LedgerEntry
	w       io.Writer
}

func (l *ledger) add(e LedgerEntry) {
	line, _ := json.Marshal(e)
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
	if l.w != nil {
		_, _ = l.w.Write(line)
	}
}

func (l *ledger) snapshot() []LedgerEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LedgerEntry(nil), l.entries...)
}

func (l *ledger) writeTo(w io.Writer) error {
	var b strings.Builder
	for _, e := range l.snapshot() {
		line, _ := json.Marshal(e)
		b.Write(line)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Ledger returns a copy of the ledger so far.
func (s *Server) Ledger() []LedgerEntry { return s.ledger.snapshot() }
