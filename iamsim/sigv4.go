package iamsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A hand-written SigV4 verifier. It rebuilds the canonical request from the request's
// own SignedHeaders, so it verifies whatever set of headers a client chose to sign.

const (
	sigAlgorithm  = "AWS4-HMAC-SHA256"
	amzDateFormat = "20060102T150405Z"
	maxSkew       = 15 * time.Minute
)

// sigRequest is the signing information of one request, from its Authorization header
// or, for presigned URLs, its query string.
type sigRequest struct {
	accessKeyID   string
	date          string // YYYYMMDD of the scope
	region        string
	service       string
	terminator    string
	signedHeaders string
	signature     string
	amzDate       string
	presigned     bool
	expires       int // presigned: X-Amz-Expires seconds
	securityToken string
}

func (q *sigRequest) scope() string {
	return q.date + "/" + q.region + "/" + q.service + "/" + q.terminator
}

// parseAuthorization reads the signing information. found is false when the request
// carries no signature at all (MissingAuthenticationToken).
func parseAuthorization(r *http.Request, query url.Values) (q sigRequest, found bool, err *apiError) {
	auths := r.Header.Values("Authorization")
	if len(auths) == 0 {
		if query.Get("X-Amz-Signature") == "" && query.Get("X-Amz-Credential") == "" {
			return q, false, nil
		}
		return parsePresigned(query)
	}
	if len(auths) > 1 {
		return q, true, errIncompleteSignature("Authorization header must be given once.")
	}
	auth := strings.TrimSpace(auths[0])
	alg, rest, _ := strings.Cut(auth, " ")
	if alg != sigAlgorithm {
		if strings.HasPrefix(alg, "AWS4-") || alg == "AWS" {
			return q, true, errIncompleteSignature("Unsupported AWS 'algorithm': '" + alg + "'.")
		}
		return q, true, errIncompleteSignature("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	var cred string
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			q.signedHeaders = v
		case "Signature":
			q.signature = v
		}
	}
	var missing []string
	if cred == "" {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if q.signature == "" {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if q.signedHeaders == "" {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	q.amzDate = r.Header.Get("X-Amz-Date")
	if q.amzDate == "" {
		if d := r.Header.Get("Date"); d != "" {
			if t, err := http.ParseTime(d); err == nil {
				q.amzDate = t.UTC().Format(amzDateFormat)
			} else {
				q.amzDate = "invalid"
			}
		}
	}
	if q.amzDate == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return q, true, errIncompleteSignature(strings.Join(missing, " "))
	}
	if e := q.parseCredential(cred); e != nil {
		return q, true, e
	}
	q.securityToken = r.Header.Get("X-Amz-Security-Token")
	return q, true, nil
}

func parsePresigned(query url.Values) (q sigRequest, found bool, err *apiError) {
	q.presigned = true
	var missing []string
	need := func(name string) string {
		v := query.Get(name)
		if v == "" {
			missing = append(missing, "AWS query-string parameters must include '"+name+"'.")
		}
		return v
	}
	alg := need("X-Amz-Algorithm")
	cred := need("X-Amz-Credential")
	q.signedHeaders = need("X-Amz-SignedHeaders")
	q.signature = need("X-Amz-Signature")
	q.amzDate = need("X-Amz-Date")
	exp := need("X-Amz-Expires")
	if len(missing) > 0 {
		return q, true, errIncompleteSignature(strings.Join(missing, " ") + " Re-examine the query-string parameters.")
	}
	if alg != sigAlgorithm {
		return q, true, errIncompleteSignature("Unsupported AWS 'algorithm': '" + alg + "'.")
	}
	n, e := strconv.Atoi(exp)
	if e != nil || n < 1 || n > 604800 {
		return q, true, errIncompleteSignature("X-Amz-Expires must be an integer between 1 and 604800.")
	}
	q.expires = n
	if e := q.parseCredential(cred); e != nil {
		return q, true, e
	}
	q.securityToken = query.Get("X-Amz-Security-Token")
	return q, true, nil
}

func (q *sigRequest) parseCredential(cred string) *apiError {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return errIncompleteSignature("Credential should have exactly 5 slash-separated parts: ACCESS_KEY/DATE/REGION/SERVICE/aws4_request.")
	}
	q.accessKeyID, q.date, q.region, q.service, q.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]
	if q.accessKeyID == "" {
		return errIncompleteSignature("Credential should have an access key.")
	}
	return nil
}

// checkScope checks the parts of the credential scope that need no key.
func (q *sigRequest) checkScope() *apiError {
	if q.terminator != "aws4_request" {
		return errSignature("Credential should be scoped with a valid terminator: 'aws4_request', not '" + q.terminator + "'. ")
	}
	if q.service != "iam" && q.service != "sts" {
		return errSignature("Credential should be scoped to correct service: 'iam'. ")
	}
	if q.region == "" {
		return errSignature("Credential should be scoped to a valid region. ")
	}
	if len(q.amzDate) < 8 || q.amzDate[:8] != q.date {
		src := "X-Amz-Date"
		return errSignature("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" + q.date + "' != '" + safePrefix(q.amzDate, 8) + "', from '" + src + "'.")
	}
	return nil
}

func safePrefix(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

// checkTime enforces the 15-minute limit. The request time may be near either the
// simulator's clock or the host's: the Go SDK corrects its clock from the Date header
// (the simulator's clock) while the AWS CLI signs with the host's, and both must work.
func (q *sigRequest) checkTime(simNow time.Time) *apiError {
	t, err := time.Parse(amzDateFormat, q.amzDate)
	if err != nil {
		return errIncompleteSignature("Date must be in ISO-8601 'basic format'. Got '" + q.amzDate + "'. See http://en.wikipedia.org/wiki/ISO_8601")
	}
	hostNow := time.Now()
	if q.presigned {
		end := t.Add(time.Duration(q.expires) * time.Second)
		if (simNow.After(end) && hostNow.After(end)) || (t.Sub(simNow) > maxSkew && t.Sub(hostNow) > maxSkew) {
			return errSignature("Signature expired: " + q.amzDate + " is now earlier than " + simNow.UTC().Format(amzDateFormat) + " (" + q.amzDate + " + " + strconv.Itoa(q.expires) + " sec.)")
		}
		return nil
	}
	near := func(now time.Time) bool { d := t.Sub(now); return d <= maxSkew && d >= -maxSkew }
	if near(simNow) || near(hostNow) {
		return nil
	}
	// Word the rejection against whichever clock the request was nearer to: the one its
	// signer most likely meant.
	now := simNow.UTC()
	if (t.Sub(hostNow)).Abs() < (t.Sub(simNow)).Abs() {
		now = hostNow.UTC().Truncate(time.Second)
	}
	if t.Before(now) {
		return errSignature("Signature expired: " + q.amzDate + " is now earlier than " + now.Add(-maxSkew).Format(amzDateFormat) + " (" + now.Format(amzDateFormat) + " - 15 min.)")
	}
	return errSignature("Signature not yet current: " + q.amzDate + " is still later than " + now.Add(maxSkew).Format(amzDateFormat) + " (" + now.Format(amzDateFormat) + " + 15 min.)")
}

// signingKeys caches derived keys: deriving one costs four HMACs, and a key serves a day.
var signingKeys sync.Map // secret\x00date/region/service -> []byte

func signingKey(secret, date, region, service string) []byte {
	ck := secret + "\x00" + date + "/" + region + "/" + service
	if k, ok := signingKeys.Load(ck); ok {
		return k.([]byte)
	}
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	signingKeys.Store(ck, k)
	return k
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// verify recomputes the signature with secret and compares in constant time.
func (q *sigRequest) verify(r *http.Request, bodyHash string, secret string) bool {
	var b strings.Builder
	b.Grow(512)
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, q.presigned))
	b.WriteByte('\n')
	for _, h := range strings.Split(q.signedHeaders, ";") {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(q.signedHeaders)
	b.WriteByte('\n')
	if q.presigned {
		if v := r.URL.Query().Get("X-Amz-Content-Sha256"); v != "" {
			bodyHash = v
		}
	}
	b.WriteString(bodyHash)
	crHash := sha256.Sum256([]byte(b.String()))
	sts := sigAlgorithm + "\n" + q.amzDate + "\n" + q.scope() + "\n" + hex.EncodeToString(crHash[:])
	m := hmac.New(sha256.New, signingKey(secret, q.date, q.region, q.service))
	m.Write([]byte(sts))
	var want [64]byte
	hex.Encode(want[:], m.Sum(nil))
	return hmac.Equal(want[:], []byte(strings.ToLower(q.signature)))
}

func canonicalURI(r *http.Request) string {
	p := r.URL.EscapedPath()
	if p == "" {
		return "/"
	}
	// Services other than S3 escape the already-escaped path once more.
	return sigEscape(p, true)
}

// canonicalQuery sorts and re-encodes the query string's parameters; a presigned
// request's own signature is left out.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			dk, dv = k, v
		}
		if presigned && dk == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, kv{sigEscape(dk, false), sigEscape(dv, false)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// sigEscape is SigV4's URI encoding: unreserved characters as they are, everything else
// %XX in upper case; '/' kept when keepSlash.
func sigEscape(s string, keepSlash bool) string {
	const hexUpper = "0123456789ABCDEF"
	clean := true
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && !(keepSlash && s[i] == '/') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

// canonicalHeaderValue joins a header's values with commas, each trimmed and with runs
// of spaces collapsed.
func canonicalHeaderValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if vs := r.Header.Values("Content-Length"); len(vs) == 0 && r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
	}
	vs := r.Header.Values(name)
	if len(vs) == 1 && !needsTrim(vs[0]) {
		return vs[0]
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

func needsTrim(v string) bool {
	if v == "" {
		return false
	}
	if v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' {
		return true
	}
	return strings.Contains(v, "  ") || strings.ContainsAny(v, "\t\n\r")
}
