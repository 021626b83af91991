// Package awscfg resolves AWS configuration as the AWS CLI does, through aws-sdk-go-v2's
// config package, from the CLI's global options (--profile, --region, --endpoint-url,
// --ca-bundle, --no-verify-ssl, timeouts, --no-sign-request, --debug) and the usual
// environment variables and shared files.
package awscfg

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/pflag"
)

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
}

// AddFlags adds the options to fs with the AWS CLI's names and defaults.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.EndpointURL, "endpoint-url", "", "override the IAM (and STS) endpoint URL")
	fs.StringVar(&o.Profile, "profile", "", "use a profile from the shared config and credentials files")
	fs.StringVar(&o.Region, "region", "", "the region to sign requests for")
	fs.BoolVar(&o.NoVerifySSL, "no-verify-ssl", false, "do not verify TLS certificates (prints a warning)")
	fs.StringVar(&o.CABundle, "ca-bundle", "", "PEM file of CA certificates to verify TLS with")
	fs.Float64Var(&o.ReadTimeout, "cli-read-timeout", 60, "seconds to wait for a response; 0 means none")
	fs.Float64Var(&o.ConnectTimeout, "cli-connect-timeout", 60, "seconds to wait for a connection; 0 means none")
	fs.BoolVar(&o.NoSignRequest, "no-sign-request", false, "send requests unsigned")
	fs.BoolVar(&o.Debug, "debug", false, "log requests and responses, with codes and secrets redacted")
}

// Load resolves the configuration. Retries are left to the caller: the returned config
// makes one attempt per call, so that every attempt can be counted and rate limited.
func (o *Options) Load(ctx context.Context, extra ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		config.WithHTTPClient(o.httpClient()),
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
	if o.NoSignRequest {
		opts = append(opts, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	}
	opts = append(opts, extra...)
	return config.LoadDefaultConfig(ctx, opts...)
}

func (o *Options) httpClient() *awshttp.BuildableClient {
	c := awshttp.NewBuildableClient()
	if o.ReadTimeout > 0 {
		c = c.WithTimeout(seconds(o.ReadTimeout) + seconds(o.ConnectTimeout))
	}
	if o.ConnectTimeout > 0 {
		c = c.WithDialerOptions(func(d *net.Dialer) { d.Timeout = seconds(o.ConnectTimeout) })
	}
	if o.NoVerifySSL {
		c = c.WithTransportOptions(func(tr *http.Transport) {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.InsecureSkipVerify = true
		})
	}
	return c
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
