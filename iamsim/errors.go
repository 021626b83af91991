package iamsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// apiError is an error answered as IAM's ErrorResponse.
type apiError struct {
	status int
	typ    string // Sender or Receiver
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func sender(status int, code, msg string) *apiError {
	return &apiError{status: status, typ: "Sender", code: code, msg: msg}
}

func errValidation(msg string) *apiError { return sender(400, "ValidationError", msg) }
func errIncompleteSignature(msg string) *apiError {
	return sender(400, "IncompleteSignature", msg)
}
func errSignature(msg string) *apiError { return sender(403, "SignatureDoesNotMatch", msg) }
func errNoSuchEntity(msg string) *apiError {
	return sender(404, "NoSuchEntity", msg)
}
func errInvalidCode() *apiError {
	return sender(403, "InvalidAuthenticationCode", "Authentication code for device is not valid.")
}
func errAccessDenied(msg string) *apiError { return sender(403, "AccessDenied", msg) }

var (
	errThrottling  = sender(400, "Throttling", "Rate exceeded")
	errMissingAuth = sender(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
	errInvalidKey  = sender(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
	errExpiredKey  = sender(403, "ExpiredToken", "The security token included in the request is expired")
	errServiceFail = &apiError{status: 500, typ: "Receiver", code: "ServiceFailure",
		msg: "The request processing has failed because of an unknown error, exception or failure."}
	errSigMismatch = errSignature("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
)

// Namespaces of the two services' XML.
const (
	nsIAM = "https://iam.amazonaws.com/doc/2010-05-08/"
	nsSTS = "https://sts.amazonaws.com/doc/2011-06-15/"

	versionIAM = "2010-05-08"
	versionSTS = "2011-06-15"
)

// errorBody renders an ErrorResponse.
func errorBody(ns string, e *apiError, requestID string) string {
	var b strings.Builder
	b.Grow(256 + len(e.msg))
	b.WriteString(`<ErrorResponse xmlns="`)
	b.WriteString(ns)
	b.WriteString(`">` + "\n  <Error>\n    <Type>")
	b.WriteString(e.typ)
	b.WriteString("</Type>\n    <Code>")
	b.WriteString(e.code)
	b.WriteString("</Code>\n    <Message>")
	escape(&b, e.msg)
	b.WriteString("</Message>\n  </Error>\n  <RequestId>")
	b.WriteString(requestID)
	b.WriteString("</RequestId>\n</ErrorResponse>\n")
	return b.String()
}

// escape writes s as XML character data. Only &, < and > are escaped (IAM's messages
// show quotes as they are); bytes XML cannot carry, and invalid UTF-8, become U+FFFD.
func escape(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '&' || c == '<' || c == '>' || c < 0x20 || c >= 0x80 {
			escapeSlow(b, s)
			return
		}
	}
	b.WriteString(s)
}

func escapeSlow(b *strings.Builder, s string) {
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\t' || r == '\n' || r == '\r':
			fmt.Fprintf(b, "&#x%X;", r)
		case r < 0x20 || r == utf8.RuneError || (r >= 0xD800 && r <= 0xDFFF) || r == 0xFFFE || r == 0xFFFF:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
}

// writeXML sends a response with IAM's headers.
func writeXML(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h["Content-Type"] = []string{"text/xml"}
	// IAM answers with a Content-Length; without one, net/http would send larger bodies
	// (lists) chunked.
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
