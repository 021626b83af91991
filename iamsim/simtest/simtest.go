// Package simtest starts the IAM simulator inside a test, like httptest, and gives the
// test an aws-sdk-go-v2 configuration that talks only to it.
package simtest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/tokenbatch/tokenbatch/iamsim"
)

// Options configure a simulator for a test. The zero value serves samples/fleet.json
// over HTTP with SigV4 verification, no throttling, no faults and the host's clock.
type Options struct {
	// Fleet to serve; nil loads samples/fleet.json.
	Fleet *iamsim.Fleet
	// Rate and Burst of the per-account token bucket (0: no throttling).
	Rate  float64
	Burst int
	// Fault probabilities.
	FaultServiceFailure, FaultDrop, FaultLostReply float64
	// Clock is where the simulator's clock starts (it then advances); zero: now.
	Clock time.Time
	// TLS serves HTTPS with a throw-away CA, written to Sim.CAFile.
	TLS               bool
	NoVerifySignature bool
	// ResyncWindow in steps (0: iamsim.DefaultResyncWindow).
	ResyncWindow int
	// Seed for fault randomness (0: 1).
	Seed int64
}

// Sim is a running simulator.
type Sim struct {
	URL             string
	Server          *iamsim.Server
	Fleet           *iamsim.Fleet
	AccessKeyID     string
	SecretAccessKey string
	CAFile          string // PEM of the CA when TLS

	caPool *x509.CertPool
}

// SampleFleetPath returns the path of samples/fleet.json in this module.
func SampleFleetPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "samples", "fleet.json")
}

// SampleFleet loads samples/fleet.json.
func SampleFleet(t testing.TB) *iamsim.Fleet {
	t.Helper()
	f, err := iamsim.LoadFleet(SampleFleetPath())
	if err != nil {
		t.Fatalf("simtest: %v", err)
	}
	return f
}

// Start runs a simulator on 127.0.0.1:0 until the test ends.
func Start(t testing.TB, opts Options) *Sim {
	t.Helper()
	f := opts.Fleet
	if f == nil {
		f = SampleFleet(t)
	}
	if len(f.AccessKeys) == 0 {
		t.Fatalf("simtest: the fleet has no access keys")
	}
	srv, err := iamsim.NewServer(f, iamsim.Config{
		ResyncWindow:      opts.ResyncWindow,
		Rate:              opts.Rate,
		Burst:             opts.Burst,
		NoVerifySignature: opts.NoVerifySignature,
		Faults: iamsim.Faults{ServiceFailure: opts.FaultServiceFailure, Drop: opts.FaultDrop,
			LostReply: opts.FaultLostReply},
		Seed:  opts.Seed,
		Clock: iamsim.NewClock(opts.Clock),
	})
	if err != nil {
		t.Fatalf("simtest: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("simtest: listen: %v", err)
	}
	s := &Sim{Server: srv, Fleet: f, AccessKeyID: f.AccessKeys[0].AccessKeyID,
		SecretAccessKey: f.AccessKeys[0].SecretAccessKey}
	hs := srv.HTTPServer()
	scheme := "http"
	if opts.TLS {
		caPEM, cert, err := iamsim.SelfSignedTLS()
		if err != nil {
			t.Fatalf("simtest: tls: %v", err)
		}
		s.CAFile = filepath.Join(t.TempDir(), "iamsim-ca.pem")
		if err := os.WriteFile(s.CAFile, caPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		s.caPool = x509.NewCertPool()
		s.caPool.AppendCertsFromPEM(caPEM)
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	s.URL = scheme + "://" + ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("simtest: serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		hs.Close()
		<-done
	})
	return s
}

// Config returns an aws-sdk-go-v2 configuration for the fleet's first access key:
// region us-east-1, BaseEndpoint s.URL, no retries, and the CA when TLS.
func (s *Sim) Config(t testing.TB) aws.Config {
	return s.ConfigWithKey(t, s.AccessKeyID, s.SecretAccessKey, "")
}

// ConfigWithKey is Config with another key (sessionToken may be empty).
func (s *Sim) ConfigWithKey(t testing.TB, accessKeyID, secret, sessionToken string) aws.Config {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if s.caPool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.caPool, MinVersion: tls.VersionTLS12}
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(accessKeyID, secret, sessionToken)),
		BaseEndpoint: aws.String(s.URL),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:   client,
	}
}

// Ledger returns the server's ledger so far.
func (s *Sim) Ledger() []iamsim.LedgerEntry { return s.Server.Ledger() }

// Manifest returns the CSV manifest of the fleet's tokens at time at (zero: the
// simulator's clock now), as `tokenbatch sim manifest` prints it.
func (s *Sim) Manifest(t testing.TB, at time.Time) []byte {
	t.Helper()
	if at.IsZero() {
		at = s.Server.Clock().Now()
	}
	var b bytes.Buffer
	if err := iamsim.WriteManifest(&b, s.Fleet, at); err != nil {
		t.Fatalf("simtest: manifest: %v", err)
	}
	return b.Bytes()
}

// Now returns the simulator's clock.
func (s *Sim) Now() time.Time { return s.Server.Clock().Now() }

// TokenCode returns the code the device's token shows at at (zero: the simulator's now).
func (s *Sim) TokenCode(t testing.TB, serial string, at time.Time) string {
	t.Helper()
	if at.IsZero() {
		at = s.Now()
	}
	c, err := s.Fleet.TokenCode(serial, at)
	if err != nil {
		t.Fatalf("simtest: %v", err)
	}
	return c
}
