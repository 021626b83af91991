// Package awscfg resolves AWS configuration as the AWS CLI does, through aws-sdk-go-v2's
// config package, from the CLI's global options (--profile, --region, --endpoint-url,
// --ca-bundle, --no-verify-ssl, timeouts, --no-sign-request, --debug) and the usual
// environment variables and shared files. It also prints results and errors as the AWS
// CLI v2 does (Output, Describe), with secrets redacted from --debug logs (Redact).
package awscfg

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/spf13/pflag"
)

// DefaultRegion signs requests when no region is configured and no endpoint is given:
// IAM is a global service, and the AWS CLI then uses its aws-global endpoint, which
// signs for us-east-1.
const DefaultRegion = "us-east-1"

// Options are the AWS CLI's global options that tokenbatch honours on every command that
// talks to IAM.
type Options struct {
	EndpointURL    string
	Profile        string
	Region         string
	NoVerifySSL    bool
	CABundle       string
	ReadTimeout    float64 // seconds; 0 means none
	ConnectTimeout float64 // seconds; 0 means none
	NoSignRequest  bool
	Debug          bool

	// Stdin is where the MFA code of an mfa_serial profile is read from; nil means
	// os.Stdin. When it is a terminal the code is read without echo.
	Stdin io.Reader
	// Stderr receives the MFA prompt, --debug logs and the --no-verify-ssl warning; nil
	// means os.Stderr.
	Stderr io.Writer
	// TokenProvider, when set, supplies MFA codes for mfa_serial profiles instead of
	// the prompt (batch commands may pass one; tests do).
	TokenProvider func() (string, error)
}

// AddFlags adds the options to fs with the AWS CLI's names and defaults.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.EndpointURL, "endpoint-url", "", "override the IAM endpoint URL (also used for the STS call of assume-role profiles)")
	fs.StringVar(&o.Profile, "profile", "", "use a profile from the shared config and credentials files")
	fs.StringVar(&o.Region, "region", "", "the region to sign requests for")
	fs.BoolVar(&o.NoVerifySSL, "no-verify-ssl", false, "do not verify TLS certificates (prints a warning)")
	fs.StringVar(&o.CABundle, "ca-bundle", "", "PEM file of CA certificates to verify TLS with")
	fs.Float64Var(&o.ReadTimeout, "cli-read-timeout", 60, "seconds to wait for a response; 0 means none")
	fs.Float64Var(&o.ConnectTimeout, "cli-connect-timeout", 60, "seconds to wait for a connection; 0 means none")
	fs.BoolVar(&o.NoSignRequest, "no-sign-request", false, "send requests unsigned")
	fs.BoolVar(&o.Debug, "debug", false, "log requests and responses, with codes and secrets redacted")
}

func (o *Options) stderr() io.Writer {
	if o.Stderr == nil {
		return os.Stderr
	}
	return o.Stderr
}

// Load resolves the configuration. Retries are left to the caller: the returned config
// makes one attempt per call, so that every attempt can be counted and rate limited.
//
// Errors are *Error values carrying the AWS CLI's message and exit code where the CLI has
// one: a profile that does not exist (255), an endpoint given without a region (253), a
// malformed --endpoint-url (252), an unreadable CA bundle (255).
func (o *Options) Load(ctx context.Context, extra ...func(*config.LoadOptions) error) (aws.Config, error) {
	if o.EndpointURL != "" {
		if err := CheckEndpointURL(o.EndpointURL); err != nil {
			return aws.Config{}, err
		}
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		config.WithHTTPClient(o.httpClient()),
		config.WithAssumeRoleCredentialOptions(o.assumeRoleOptions),
	}
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.EndpointURL != "" {
		opts = append(opts, config.WithBaseEndpoint(o.EndpointURL))
	}
	if o.CABundle != "" {
		b, err := os.ReadFile(o.CABundle)
		if err != nil {
			return aws.Config{}, &Error{Code: ExitOther, Message: fmt.Sprintf("Unable to load CA bundle %s: %v", o.CABundle, unwrapPath(err))}
		}
		opts = append(opts, config.WithCustomCABundle(strings.NewReader(string(b))))
	}
	if o.NoSignRequest {
		opts = append(opts, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	}
	if o.Debug {
		opts = append(opts,
			config.WithClientLogMode(aws.LogRequestWithBody|aws.LogResponseWithBody|aws.LogRetries),
			config.WithLogger(NewDebugLogger(o.stderr())))
	} else {
		opts = append(opts, config.WithLogger(sdkWarnings{w: o.stderr()}))
	}
	opts = append(opts, extra...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, classifyLoadError(err)
	}
	if cfg.Region == "" {
		if o.endpointConfigured(cfg) {
			return aws.Config{}, ErrNoRegion
		}
		cfg.Region = DefaultRegion
	}
	if cfg.BaseEndpoint != nil {
		if err := CheckEndpointURL(*cfg.BaseEndpoint); err != nil {
			return aws.Config{}, err
		}
	}
	return cfg, nil
}

// endpointConfigured reports whether IAM's endpoint is not the default one, in which case
// the AWS CLI insists on a region.
func (o *Options) endpointConfigured(cfg aws.Config) bool {
	if cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != "" {
		return true
	}
	if ignoreConfiguredEndpoints() {
		return false
	}
	return os.Getenv("AWS_ENDPOINT_URL_IAM") != ""
}

func ignoreConfiguredEndpoints() bool {
	return strings.EqualFold(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true")
}

// stsEndpoint is the endpoint the STS call of an assume-role profile goes to: the IAM
// --endpoint-url (tokenbatch's simulator serves both), else what the SDK resolves
// (AWS_ENDPOINT_URL_STS), else AWS_ENDPOINT_URL, which the SDK only applies once the
// credentials are resolved.
func (o *Options) stsEndpoint() string {
	if o.EndpointURL != "" {
		return o.EndpointURL
	}
	if ignoreConfiguredEndpoints() || os.Getenv("AWS_ENDPOINT_URL_STS") != "" {
		return ""
	}
	return os.Getenv("AWS_ENDPOINT_URL")
}

// assumeRoleOptions adds the MFA prompt and the endpoint to the STS client of assume-role
// profiles.
func (o *Options) assumeRoleOptions(ar *stscreds.AssumeRoleOptions) {
	if ar.TokenProvider == nil {
		if o.TokenProvider != nil {
			ar.TokenProvider = o.TokenProvider
		} else {
			serial := ""
			if ar.SerialNumber != nil {
				serial = *ar.SerialNumber
			}
			ar.TokenProvider = PromptTokenProvider(o.Stdin, o.stderr(), serial)
		}
	}
	if c, ok := ar.Client.(*sts.Client); ok {
		ar.Client = &stsClient{c: c, endpoint: o.stsEndpoint()}
	}
}

// stsClient sends AssumeRole to tokenbatch's endpoint, and signs for DefaultRegion when
// no region is configured (the SDK builds the STS client before the region falls back).
type stsClient struct {
	c        *sts.Client
	endpoint string
}

func (s *stsClient) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	optFns = append(optFns, func(o *sts.Options) {
		if s.endpoint != "" {
			o.BaseEndpoint = aws.String(s.endpoint)
		}
		if o.Region == "" {
			o.Region = DefaultRegion
		}
	})
	return s.c.AssumeRole(ctx, in, optFns...)
}

func (o *Options) httpClient() *awshttp.BuildableClient {
	var warnOnce sync.Once
	c := awshttp.NewBuildableClient()
	c = c.WithDialerOptions(func(d *net.Dialer) { d.Timeout = seconds(o.ConnectTimeout) })
	c = c.WithTransportOptions(func(tr *http.Transport) {
		// The CLI's read timeout bounds each wait for the server; the closest net/http
		// knob is the wait for the response headers (IAM's bodies are small).
		tr.ResponseHeaderTimeout = seconds(o.ReadTimeout)
		tr.TLSHandshakeTimeout = seconds(o.ConnectTimeout)
		if o.NoVerifySSL {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.InsecureSkipVerify = true
			// A dialer of our own knows the host to name in the warning (a TLS
			// connection to an IP address has no server name).
			tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, _ := net.SplitHostPort(addr)
				warnOnce.Do(func() { o.warnInsecure(host) })
				cfg := tr.TLSClientConfig.Clone()
				if cfg.ServerName == "" && net.ParseIP(host) == nil {
					cfg.ServerName = host
				}
				if d := seconds(o.ConnectTimeout); d > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, d)
					defer cancel()
				}
				td := &tls.Dialer{NetDialer: &net.Dialer{KeepAlive: 30 * time.Second}, Config: cfg}
				return td.DialContext(ctx, network, addr)
			}
		}
	})
	return c
}

// warnInsecure prints the warning urllib3 prints for the AWS CLI's --no-verify-ssl.
func (o *Options) warnInsecure(host string) {
	fmt.Fprintf(o.stderr(), "InsecureRequestWarning: Unverified HTTPS request is being made to host '%s'. "+
		"Adding certificate verification is strongly advised. "+
		"See: https://urllib3.readthedocs.io/en/1.26.x/advanced-usage.html#ssl-warnings\n", host)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// CheckEndpointURL refuses an endpoint URL without a scheme or host, with the AWS CLI's
// message and exit code 252.
func CheckEndpointURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return &Error{Code: ExitUsage, Message: fmt.Sprintf("Bad value for --endpoint-url %q: scheme is missing.  "+
			"Must be of the form http://<hostname>/ or https://<hostname>/", s)}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// MaxAttempts returns the number of attempts per call configured as the AWS CLI reads
// it: AWS_MAX_ATTEMPTS, else the profile's max_attempts, else def. (The SDK ignores both
// once a command supplies its own retryer, as Load does.)
func (o *Options) MaxAttempts(ctx context.Context, def int) int {
	if env, err := config.NewEnvConfig(); err == nil && env.RetryMaxAttempts > 0 {
		return env.RetryMaxAttempts
	}
	profile := o.Profile
	if profile == "" {
		profile = os.Getenv("AWS_PROFILE")
	}
	if profile == "" {
		profile = "default"
	}
	if sc, err := config.LoadSharedConfigProfile(ctx, profile); err == nil && sc.RetryMaxAttempts > 0 {
		return sc.RetryMaxAttempts
	}
	return def
}

// ReadRetryer is the retryer for calls that change nothing (lists, GetCallerIdentity).
// Load's configuration makes one attempt per call, because a resync or an enable that
// is sent again may find its codes used; a read can always be sent again, and is
// retried as the SDK's standard retryer does: throttling, server failures, and a
// connection closed under a response (aws/aws-sdk-go-v2#2737). Without the client-side
// rate limit, whose token bucket drains under many goroutines (aws/aws-sdk-go-v2#1665).
func ReadRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
}

// sdkWarnings passes the SDK's own warnings on (stale credentials kept in use, a
// fallback to IMDSv1, an unreadable Date header), except those about a response body it
// could not drain or close: the call's outcome already says what happened to it, and
// under load they would fill a job's log.
type sdkWarnings struct{ w io.Writer }

func (l sdkWarnings) Logf(c logging.Classification, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "response body") {
		return
	}
	fmt.Fprintf(l.w, "tokenbatch: aws sdk %s: %s\n", strings.ToLower(string(c)), msg)
}
