package awscfg

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Exit codes of the AWS CLI v2, which tokenbatch shares (commands.Exit* has the same values).
const (
	ExitUsage   = 252 // invalid syntax or parameter value
	ExitConfig  = 253 // invalid environment or configuration, e.g. no credentials or region
	ExitService = 254 // the service returned an error
	ExitOther   = 255 // anything else: connection failures, missing profile
)

// Error is a failure described as the AWS CLI v2 describes it: Message is the CLI's text
// (printed as is, after an empty line, on stderr) and Code its exit code.
type Error struct {
	Code    int
	Message string
	Err     error // the underlying error, if any
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// ErrNoRegion is returned by Load when an endpoint is configured but no region is.
var ErrNoRegion = &Error{Code: ExitConfig,
	Message: `You must specify a region. You can also configure your region by running "aws configure".`}

// ErrNoCredentials is returned by Retrieve when no credentials are configured.
var ErrNoCredentials = &Error{Code: ExitConfig,
	Message: `Unable to locate credentials. You can configure credentials by running "aws configure".`}

// ProfileNotFoundError reports a --profile or AWS_PROFILE that names no profile.
type ProfileNotFoundError struct{ Profile string }

func (e *ProfileNotFoundError) Error() string {
	return fmt.Sprintf("The config profile (%s) could not be found", e.Profile)
}

func classifyLoadError(err error) error {
	var nf config.SharedConfigProfileNotExistError
	if errors.As(err, &nf) {
		return &Error{Code: ExitOther, Message: (&ProfileNotFoundError{Profile: nf.Profile}).Error(), Err: err}
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: ExitConfig, Message: "unable to load the AWS configuration: " + Redact(err.Error()), Err: err}
}

// Retrieve resolves the credentials of cfg before the first call, as the AWS CLI does:
// an mfa_serial profile prompts here. Errors are *Error: ErrNoCredentials (253), or the
// STS error of an assume-role profile (254).
func Retrieve(ctx context.Context, cfg aws.Config) error {
	if cfg.Credentials == nil {
		return ErrNoCredentials
	}
	if aws.IsCredentialsProvider(cfg.Credentials, aws.AnonymousCredentials{}) {
		return nil
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ae smithy.APIError
		var ue *url.Error
		if errors.As(err, &ae) || errors.As(err, &ue) {
			return Describe(err, "AssumeRole")
		}
		var pe *PromptError
		if errors.As(err, &pe) {
			return &Error{Code: ExitOther, Message: pe.Error(), Err: err}
		}
		return &Error{Code: ExitConfig, Message: ErrNoCredentials.Message, Err: err}
	}
	return nil
}

// Describe turns an error of an SDK call into the AWS CLI's message and exit code:
//
//	254 An error occurred (CODE) when calling the OPERATION operation: MESSAGE
//	255 Could not connect to the endpoint URL: "URL"   (and the timeout and TLS variants)
//
// operation names the call when the error does not.
func Describe(err error, operation string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) && oe.OperationName != "" {
		operation = oe.OperationName
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return &Error{Code: ExitService, Err: err, Message: fmt.Sprintf(
			"An error occurred (%s) when calling the %s operation: %s", ae.ErrorCode(), operation, Redact(ae.ErrorMessage()))}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		endpoint := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = "" // a GET's parameters could hold codes
			endpoint = u.String()
		}
		return &Error{Code: ExitOther, Err: err, Message: describeTransport(ue.Err, endpoint)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: ExitOther, Err: err, Message: "Read timeout: " + Redact(err.Error())}
	}
	return &Error{Code: ExitOther, Err: err, Message: Redact(err.Error())}
}

func describeTransport(err error, endpoint string) string {
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var rhe tls.RecordHeaderError
	switch {
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie):
		return fmt.Sprintf("SSL validation failed for %s %v", endpoint, err)
	case errors.As(err, &rhe):
		return fmt.Sprintf("SSL validation failed for %s %v", endpoint, err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		if oe.Timeout() {
			return fmt.Sprintf("Connect timeout on endpoint URL: %q", endpoint)
		}
		return fmt.Sprintf("Could not connect to the endpoint URL: %q", endpoint)
	}
	if strings.Contains(err.Error(), "TLS handshake timeout") {
		return fmt.Sprintf("Connect timeout on endpoint URL: %q", endpoint)
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return fmt.Sprintf("Read timeout on endpoint URL: %q", endpoint)
	}
	return fmt.Sprintf("Connection was closed before we received a valid response from endpoint URL: %q.", endpoint)
}

// DescribeCall is Describe for a call that made attempts out of maxAttempts: as botocore
// does, a service error of a call that used up its attempts says "(reached max retries:
// N)".
func DescribeCall(err error, operation string, attempts, maxAttempts int) *Error {
	e := Describe(err, operation)
	var ae smithy.APIError
	if e.Code == ExitService && errors.As(err, &ae) && maxAttempts > 0 && attempts >= maxAttempts {
		var oe *smithy.OperationError
		if errors.As(err, &oe) && oe.OperationName != "" {
			operation = oe.OperationName
		}
		e = &Error{Code: e.Code, Err: e.Err, Message: fmt.Sprintf(
			"An error occurred (%s) when calling the %s operation (reached max retries: %d): %s",
			ae.ErrorCode(), operation, attempts-1, Redact(ae.ErrorMessage()))}
	}
	return e
}

// AttemptCounter counts the HTTP attempts of the calls whose stacks it is added to.
type AttemptCounter struct{ n atomic.Int32 }

// APIOption adds the counter to a client's middleware stack (iam.Options.APIOptions).
func (c *AttemptCounter) APIOption(stack *middleware.Stack) error {
	mw := middleware.FinalizeMiddlewareFunc("tokenbatchAttemptCounter", func(ctx context.Context, in middleware.FinalizeInput,
		next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		c.n.Add(1)
		return next.HandleFinalize(ctx, in)
	})
	if err := stack.Finalize.Insert(mw, "Retry", middleware.After); err != nil {
		return stack.Finalize.Add(mw, middleware.After)
	}
	return nil
}

// Attempts returns how many attempts were made.
func (c *AttemptCounter) Attempts() int { return int(c.n.Load()) }
