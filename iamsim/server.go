package iamsim

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Config tunes a Server. The zero value serves with signature verification, no
// throttling, no faults, the host's clock and the default resync window.
type Config struct {
	// ResyncWindow is the ±steps ResyncMFADevice and EnableMFADevice search; 0 means
	// DefaultResyncWindow.
	ResyncWindow int
	// Rate is the per-account token bucket's refill in requests per second; 0 means no
	// throttling. Burst is its size (0: max(1, Rate)).
	Rate  float64
	Burst int
	// NoVerifySignature accepts unsigned and mis-signed requests (the caller is then the
	// signing key's user if the key is known, else the fleet's first key's).
	NoVerifySignature bool
	// Faults are injected with the given probabilities.
	Faults Faults
	// Seed seeds the fault and latency randomness (0: 1).
	Seed int64
	// Clock is the simulator's time (nil: the host's).
	Clock *Clock
	// Ledger, if set, receives every ledger entry as a JSON line.
	Ledger io.Writer
	// Log, if set, receives one line per request (never codes, seeds or secrets).
	Log io.Writer
	// ExtraKeys are added to the fleet's access keys.
	ExtraKeys []AccessKey
}

// Faults are injected failures, each a probability in [0, 1].
type Faults struct {
	// ServiceFailure answers ServiceFailure (HTTP 500) without applying the call.
	ServiceFailure float64
	// Drop closes the connection before the call is applied.
	Drop float64
	// LostReply applies the call, then closes the connection without an answer.
	LostReply float64
	// LatencyMin and LatencyMax delay every answer by a uniform duration in the range.
	LatencyMin, LatencyMax time.Duration
	// Actions limits the faults (not the latency) to these actions; empty means all.
	Actions []string
}

func (f Faults) applies(action string) bool {
	if len(f.Actions) == 0 {
		return true
	}
	for _, a := range f.Actions {
		if a == action {
			return true
		}
	}
	return false
}

// Server is the simulator: an http.Handler serving IAM and STS on one endpoint, and
// GET /_sim/ledger.
type Server struct {
	accountID    string
	accountAlias string
	window       int
	noVerify     bool
	clock        *Clock
	log          io.Writer
	logMu        sync.Mutex

	st state

	faults  atomic.Pointer[Faults]
	limiter atomic.Pointer[rate.Limiter] // nil: unlimited
	rngMu   sync.Mutex
	rng     *rand.Rand

	ledger   ledger
	requests atomic.Int64
}

// NewServer builds a server over a copy of f.
func NewServer(f *Fleet, cfg Config) (*Server, error) {
	if f == nil {
		return nil, errors.New("iamsim: no fleet")
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		accountID:    f.AccountID,
		accountAlias: f.AccountAlias,
		window:       cfg.ResyncWindow,
		noVerify:     cfg.NoVerifySignature,
		clock:        cfg.Clock,
		log:          cfg.Log,
	}
	if s.window <= 0 {
		s.window = DefaultResyncWindow
	}
	if s.clock == nil {
		s.clock = NewClock(time.Time{})
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	s.rng = rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	s.ledger.w = cfg.Ledger
	s.SetFaults(cfg.Faults)
	s.SetRate(cfg.Rate, cfg.Burst)
	if err := s.st.load(f, s.clock.Now()); err != nil {
		return nil, err
	}
	for _, k := range cfg.ExtraKeys {
		if err := s.AddKey(k); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetFaults replaces the injected faults; safe while serving.
func (s *Server) SetFaults(f Faults) {
	f.Actions = append([]string(nil), f.Actions...)
	s.faults.Store(&f)
}

// SetRate replaces the per-account token bucket (r <= 0: no throttling); safe while
// serving. The bucket starts full.
func (s *Server) SetRate(r float64, burst int) {
	if r <= 0 {
		s.limiter.Store(nil)
		return
	}
	if burst <= 0 {
		burst = max(1, int(r))
	}
	s.limiter.Store(rate.NewLimiter(rate.Limit(r), burst))
}

// Clock returns the simulator's clock, which tests may set, freeze or advance.
func (s *Server) Clock() *Clock { return s.clock }

// AccountID returns the fleet's account id.
func (s *Server) AccountID() string { return s.accountID }

// Requests returns how many API requests (not /_sim ones) the server has received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// AddKey adds or replaces a long-term access key; safe while serving.
func (s *Server) AddKey(k AccessKey) error {
	if k.AccessKeyID == "" || k.SecretAccessKey == "" {
		return errors.New("iamsim: access key id and secret are both needed")
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if k.UserName != "" && s.st.users[k.UserName] == nil {
		return fmt.Errorf("iamsim: access key %s: no user %q", k.AccessKeyID, k.UserName)
	}
	ks := newKeyState(k)
	s.st.bindKey(ks, k.UserName)
	s.st.keys[k.AccessKeyID] = ks
	return nil
}

// DeviceState is what the server stores about a device.
type DeviceState struct {
	SerialNumber string
	Kind         string
	UserName     string // empty: unassigned
	EnableDate   time.Time
	// DriftSteps is the stored drift (what sign-in trusts).
	DriftSteps int
	// LastStep is the last accepted TOTP step; HasLastStep is false before any.
	LastStep    int64
	HasLastStep bool
}

// Device returns the stored state of a device.
func (s *Server) Device(serial string) (DeviceState, bool) {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	d := s.st.devices[serial]
	if d == nil {
		return DeviceState{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ds := DeviceState{SerialNumber: d.serial, Kind: d.kind, EnableDate: d.enableDate,
		DriftSteps: d.drift, LastStep: d.lastStep, HasLastStep: d.hasLast}
	if d.user != nil {
		ds.UserName = d.user.name
	}
	return ds, true
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveSim(w, r)
		return
	}
	s.requests.Add(1)
	c := &call{s: s, requestID: newRequestID(), now: s.clock.Now(), ns: nsIAM}
	h := w.Header()
	h["X-Amzn-Requestid"] = []string{c.requestID}
	h["Date"] = []string{c.now.UTC().Format(http.TimeFormat)}
	start := time.Now()
	status, code := s.handle(w, r, c)
	if s.log != nil {
		s.logf("%s %s %s status=%d outcome=%s user=%q serial=%q request_id=%s took=%s",
			c.now.UTC().Format(time.RFC3339), r.Method, c.action, status, code, c.userName, c.serial, c.requestID, time.Since(start).Round(time.Microsecond))
	}
}

func (s *Server) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.log, format+"\n", args...)
}

// handle runs the request's pipeline and returns the status and outcome for the log.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, c *call) (int, string) {
	f := s.faults.Load()
	if f.LatencyMax > 0 {
		d := f.LatencyMin
		if f.LatencyMax > f.LatencyMin {
			s.rngMu.Lock()
			d += time.Duration(s.rng.Int64N(int64(f.LatencyMax - f.LatencyMin + 1)))
			s.rngMu.Unlock()
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return 0, "client-gone"
		}
	}

	var body []byte
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return c.fail(w, sender(405, "MethodNotAllowed", "Only GET and POST are supported."))
	}
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			return c.fail(w, sender(400, "MalformedQueryString", "The request body could not be read."))
		}
		if len(body) > MaxBodyBytes {
			return c.fail(w, sender(413, "RequestEntityTooLarge", "Request body must be at most "+strconv.Itoa(MaxBodyBytes)+" bytes."))
		}
	}
	p, perr := parseParams(r.URL.RawQuery, r.Header.Get("Content-Type"), body)
	if perr != nil {
		return c.fail(w, perr)
	}
	c.params = p
	c.action = p["Action"]
	c.userName = p["UserName"]
	c.serial = p["SerialNumber"]
	if v := p["Version"]; v == versionSTS {
		c.ns = nsSTS
	}

	// Who is calling.
	key, service, aerr := s.authenticate(r, body, c)
	if service == "sts" {
		c.ns = nsSTS
	} else if service == "iam" {
		c.ns = nsIAM
	}
	op := lookupOp(service, c.action, p["Version"])
	if op != nil && op.service == "sts" {
		c.ns = nsSTS
	}
	c.mutating = op != nil && op.mutating
	if aerr != nil {
		return c.fail(w, aerr)
	}
	c.key = key

	if c.action == "" {
		return c.fail(w, sender(400, "MissingAction", "Missing Action"))
	}
	if op == nil {
		v := p["Version"]
		if v == "" {
			v = "NO_VERSION_SPECIFIED"
		}
		return c.fail(w, sender(400, "InvalidAction", "Could not find operation "+c.action+" for version "+v))
	}
	if key.denies(op.service, c.action) {
		return c.fail(w, errAccessDenied("User: "+key.arn+" is not authorized to perform: "+op.service+":"+c.action+
			" on resource: "+c.resource(op)+" because no identity-based policy allows the "+op.service+":"+c.action+" action"))
	}
	if l := s.limiter.Load(); l != nil && !l.Allow() { // host time: a frozen simulator clock must not stop the refill
		return c.fail(w, errThrottling)
	}
	if f.Drop > 0 || f.ServiceFailure > 0 || f.LostReply > 0 {
		if f.applies(c.action) {
			s.rngMu.Lock()
			drop, fail, lost := s.rng.Float64() < f.Drop, s.rng.Float64() < f.ServiceFailure, s.rng.Float64() < f.LostReply
			s.rngMu.Unlock()
			switch {
			case drop:
				c.record("dropped", "drop")
				abort(w)
				return 0, "dropped"
			case fail:
				return c.fail(w, errServiceFail)
			case lost:
				c.lostReply = true
			}
		}
	}

	result, err := op.run(c)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = errServiceFail
		}
		return c.fail(w, ae)
	}
	c.record("ok", "")
	if c.lostReply {
		abort(w)
		return 0, "ok (reply lost)"
	}
	writeXML(w, 200, successBody(c.ns, c.action, result, c.requestID))
	return 200, "ok"
}

// abort closes the connection without an answer: hijacked when the connection allows,
// else by aborting the handler (HTTP/2 resets the stream).
func abort(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// call is one request in flight.
type call struct {
	s         *Server
	requestID string
	now       time.Time
	ns        string
	params    params
	action    string
	userName  string // for the ledger and the log
	serial    string
	key       *keyState
	mutating  bool
	lostReply bool
	recorded  bool
}

func (c *call) fail(w http.ResponseWriter, e *apiError) (int, string) {
	c.record(e.code, "")
	if c.lostReply {
		abort(w)
		return 0, e.code + " (reply lost)"
	}
	writeXML(w, e.status, errorBody(c.ns, e, c.requestID))
	return e.status, e.code
}

// record writes the call's ledger entry once, for state-changing actions.
func (c *call) record(outcome, fault string) {
	if !c.mutating || c.recorded {
		return
	}
	c.recorded = true
	if c.lostReply {
		fault = "lost-reply"
	}
	c.s.ledger.add(LedgerEntry{Action: c.action, UserName: c.userName, SerialNumber: c.serial,
		Outcome: outcome, RequestID: c.requestID, Time: c.now.UTC(), Fault: fault})
}

func (c *call) resource(op *operation) string {
	switch {
	case op.service == "sts":
		return "*"
	case c.userName != "":
		return "user " + c.userName
	}
	return "*"
}

func successBody(ns, action, result, requestID string) string {
	var b strings.Builder
	b.Grow(160 + 2*len(action) + len(result))
	b.WriteString("<")
	b.WriteString(action)
	b.WriteString(`Response xmlns="`)
	b.WriteString(ns)
	b.WriteString(`">` + "\n")
	if result != "" {
		b.WriteString("  <" + action + "Result>\n")
		b.WriteString(result)
		b.WriteString("  </" + action + "Result>\n")
	}
	b.WriteString("  <ResponseMetadata>\n    <RequestId>")
	b.WriteString(requestID)
	b.WriteString("</RequestId>\n  </ResponseMetadata>\n</")
	b.WriteString(action)
	b.WriteString("Response>\n")
	return b.String()
}

// newRequestID returns a random UUID v4.
func newRequestID() string {
	var u [16]byte
	a, b := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}

// authenticate verifies the request's signature and returns the key that signed it and
// the scope's service ("" when unsigned).
func (s *Server) authenticate(r *http.Request, body []byte, c *call) (*keyState, string, *apiError) {
	var query url.Values
	if r.URL.RawQuery != "" {
		query = r.URL.Query()
	}
	q, found, perr := parseAuthorization(r, query)
	if s.noVerify {
		s.st.mu.RLock()
		defer s.st.mu.RUnlock()
		if found && perr == nil {
			if k := s.st.keys[q.accessKeyID]; k != nil {
				return k, q.service, nil
			}
		}
		return s.st.defaultKey, q.service, nil
	}
	if perr != nil {
		return nil, "", perr
	}
	if !found {
		return nil, "", errMissingAuth
	}
	if e := q.checkScope(); e != nil {
		return nil, "", e
	}
	if e := q.checkTime(c.now); e != nil {
		return nil, q.service, e
	}
	s.st.mu.RLock()
	k := s.st.keys[q.accessKeyID]
	s.st.mu.RUnlock()
	if k == nil {
		return nil, q.service, errInvalidKey
	}
	if k.session != (q.securityToken != "") || (k.session && !constantEqual(k.sessionToken, q.securityToken)) {
		return nil, q.service, errInvalidKey
	}
	sum := sha256.Sum256(body)
	if !q.verify(r, hex.EncodeToString(sum[:]), k.secret) {
		return nil, q.service, errSigMismatch
	}
	if k.expires != nil && !c.now.Before(*k.expires) {
		return nil, q.service, errExpiredKey
	}
	return k, q.service, nil
}

// serveSim answers the simulator's own endpoints.
func (s *Server) serveSim(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_sim/ledger":
		w.Header().Set("Content-Type", "application/x-ndjson")
		_ = s.ledger.writeTo(w)
	case "/_sim/health":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	default:
		http.NotFound(w, r)
	}
}

// sortedInsert inserts v into the sorted slice ss.
func sortedInsert(ss []string, v string) []string {
	i := sort.SearchStrings(ss, v)
	if i < len(ss) && ss[i] == v {
		return ss
	}
	ss = append(ss, "")
	copy(ss[i+1:], ss[i:])
	ss[i] = v
	return ss
}

func sortedRemove(ss []string, v string) []string {
	i := sort.SearchStrings(ss, v)
	if i < len(ss) && ss[i] == v {
		return append(ss[:i], ss[i+1:]...)
	}
	return ss
}

// HTTPServer returns an http.Server for s, with HTTP/2 off so that the lost-reply and
// drop faults can hijack and close connections as IAM's clients would see them.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:          log.New(io.Discard, "", 0),
	}
}
