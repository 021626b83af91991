package executor

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"syscall"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// class says what an attempt's error means for the device and the run.
type class int

const (
	// classPermanent: IAM answered and refused; sending again cannot help.
	classPermanent class = iota
	// classThrottled: IAM refused for rate; nothing was applied. Retried, and the
	// attempt does not count against --max-attempts.
	classThrottled
	// classRetry: IAM refused for a passing reason; nothing was applied.
	classRetry
	// classUnknown: no answer (connection lost, timeout) or a server failure: IAM may
	// have applied the resync. Retried; a later "codes already used" means in doubt.
	classUnknown
	// classCredentials: the credentials are expired or refused; every later request
	// would fail the same way, so the run stops.
	classCredentials
)

// Local error codes, for rows where IAM gave none.
const (
	CodeTimeout            = "RequestTimeout"     // the per-request timeout passed
	CodeConnection         = "ConnectionError"    // the connection failed or closed before an answer
	CodeNoAnswer           = "NoAnswer"           // any other failure to get an answer
	CodeInterrupted        = "Interrupted"        // a signal stopped the run first
	CodeCredentialsStopped = "CredentialsExpired" // the run stopped on refused credentials first
	CodeJournal            = "JournalError"       // the journal could not be written, so the run stopped
	CodeAlreadySucceeded   = "AlreadySucceeded"   // resynced in an earlier run of the same journal
	CodeToken              = "TokenError"         // the device's token could not give codes
	CodeInvalidRow         = "InvalidRow"         // the plan found the row invalid
)

var throttleCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
	"RequestThrottledException": true, "TooManyRequestsException": true,
	"RequestLimitExceeded": true, "RequestThrottled": true, "SlowDown": true,
}

// credentialCodes are answers that no retry can fix: the key is expired, unknown or
// its signature is refused (a wrong secret, or a clock too far off).
var credentialCodes = map[string]bool{
	"ExpiredToken": true, "ExpiredTokenException": true, "InvalidClientTokenId": true,
	"UnrecognizedClientException": true, "SignatureDoesNotMatch": true, "IncompleteSignature": true,
	"MissingAuthenticationToken": true, "RequestExpired": true, "AuthFailure": true,
	"InvalidToken": true, "TokenRefreshRequired": true,
}

// retryCodes are refusals that pass by themselves and apply nothing.
var retryCodes = map[string]bool{
	"ConcurrentModification": true, "EntityTemporarilyUnmodifiable": true,
}

// serverCodes are server-side failures: the request may have been applied.
var serverCodes = map[string]bool{
	"ServiceFailure": true, "InternalFailure": true, "ServiceUnavailable": true, "InternalError": true,
}

// AnsweredOK reports whether err is IAM's success answer that the SDK then failed to
// read: status 200 with IAM's request id, and a body the operation does not need. Only
// for operations without output members, such as ResyncMFADevice. The SDK can lose a
// body this way when the HTTP transport closes the connection while the response is
// read (aws/aws-sdk-go-v2#2737); sending the codes again would only be refused as used,
// and the device reported in doubt. A 200 without a request id (a proxy's, say) is not
// taken as IAM's.
func AnsweredOK(err error) (ok bool, requestID string) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusOK && re.ServiceRequestID() != "" {
		var de *smithy.DeserializationError
		if errors.As(err, &de) {
			return true, re.ServiceRequestID()
		}
	}
	return false, ""
}

// attemptError is what the executor knows of a failed attempt. Message is not yet
// scrubbed.
type attemptError struct {
	class     class
	code      string
	message   string
	requestID string
	status    int
	answered  bool // IAM answered (with an error), even if it may have applied
}

// classify sorts an error from ResyncMFADevice. reqCtx is the attempt's context, to
// tell the per-request timeout from other failures.
func classify(reqCtx context.Context, err error) attemptError {
	var e attemptError
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		e.requestID = re.ServiceRequestID()
		e.status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.answered = true
		e.code, e.message = ae.ErrorCode(), ae.ErrorMessage()
		switch {
		case throttleCodes[e.code]:
			e.class = classThrottled
		case credentialCodes[e.code]:
			e.class = classCredentials
		case retryCodes[e.code]:
			e.class = classRetry
		case serverCodes[e.code] || e.status >= 500:
			e.class = classUnknown
		default:
			e.class = classPermanent
		}
		return e
	}
	var se *v4.SigningError
	if errors.As(err, &se) {
		return attemptError{class: classCredentials, code: "CredentialsUnavailable", message: se.Error()}
	}
	if e.status >= 500 {
		e.answered = true
		e.class, e.code, e.message = classUnknown, strings.ReplaceAll(http.StatusText(e.status), " ", ""), err.Error()
		return e
	}
	switch {
	case errors.Is(reqCtx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		e.class, e.code, e.message = classUnknown, CodeTimeout, "no answer within the per-request timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		// Refused before anything was sent.
		e.class, e.code, e.message = classRetry, CodeConnection, "connection refused"
	default:
		var rse *smithyhttp.RequestSendError
		e.class, e.code = classUnknown, CodeNoAnswer
		if errors.As(err, &rse) {
			e.code = CodeConnection
		}
		e.message = err.Error()
	}
	return e
}
