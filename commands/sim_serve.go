package commands

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenbatch/tokenbatch/iamsim"
)

// simServeOptions are the flags of `tokenbatch sim serve`.
type simServeOptions struct {
	Fleet             string
	Addr              string
	TLSSelfSigned     bool
	TLSCertOut        string
	TLSCert, TLSKey   string
	AccessKeyID       string
	SecretAccessKey   string
	NoVerifySignature bool
	Rate              float64
	Burst             int
	FaultService      float64
	FaultDrop         float64
	FaultLostReply    float64
	Latency           string
	Clock             string
	ResyncWindow      int
	Ledger            string
	Seed              int64
	LogRequests       bool
}

func init() {
	simRegistry = append(simRegistry, func(stdio IO) *cobra.Command {
		o := &simServeOptions{}
		c := &cobra.Command{
			Use:   "serve --fleet FILE",
			Short: "Serve IAM and STS for a fleet on loopback (see docs/simulator.md)",
			Long: `Serve IAM's and STS's Query protocol for the fleet, with SigV4 verification, a TOTP
drift model, per-account throttling and injected faults. The first line on stdout is
"listening on http://HOST:PORT" (https with TLS). Stops on SIGINT or SIGTERM.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runSimServe(cmd.Context(), stdio, o)
			},
		}
		f := c.Flags()
		f.StringVar(&o.Fleet, "fleet", "", "fleet file (JSON, see docs/simulator.md)")
		f.StringVar(&o.Addr, "addr", "127.0.0.1:0", "address to listen on (port 0: a free port)")
		f.BoolVar(&o.TLSSelfSigned, "tls-self-signed", false, "serve HTTPS with a throw-away CA and certificate")
		f.StringVar(&o.TLSCertOut, "tls-cert-out", "", "with --tls-self-signed, write the CA certificate (PEM, a CA bundle for clients) here (default: a file in the temp directory)")
		f.StringVar(&o.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
		f.StringVar(&o.TLSKey, "tls-key", "", "private key (PEM) of --tls-cert")
		f.StringVar(&o.AccessKeyID, "access-key-id", "", "add an access key (owned by the fleet's first key's user)")
		f.StringVar(&o.SecretAccessKey, "secret-access-key", "", "secret of --access-key-id")
		f.BoolVar(&o.NoVerifySignature, "no-verify-signature", false, "accept unsigned and mis-signed requests")
		f.Float64Var(&o.Rate, "rate", 0, "requests per second per account before Throttling (0: unlimited)")
		f.IntVar(&o.Burst, "burst", 0, "token bucket size for --rate (default: the rate, at least 1)")
		f.Float64Var(&o.FaultService, "fault-service-failure", 0, "probability of answering ServiceFailure (500) without applying the call")
		f.Float64Var(&o.FaultDrop, "fault-drop", 0, "probability of closing the connection before applying the call")
		f.Float64Var(&o.FaultLostReply, "fault-lost-reply", 0, "probability of applying the call, then closing the connection without an answer")
		f.StringVar(&o.Latency, "latency", "", `delay before every answer: "20ms" or a range "10ms-50ms"`)
		f.StringVar(&o.Clock, "clock", "now", "simulator clock: now, an RFC 3339 time to start at, or +/-DURATION from now")
		f.IntVar(&o.ResyncWindow, "resync-window", iamsim.DefaultResyncWindow, "steps (30 s) either side of the clock that resync and enable search")
		f.StringVar(&o.Ledger, "ledger", "", "append a JSON line per state-changing call to this file")
		f.Int64Var(&o.Seed, "seed", 1, "seed of the fault and latency randomness")
		f.BoolVar(&o.LogRequests, "log-requests", false, "log one line per request on stderr (never codes or secrets)")
		return c
	})
}

// parseLatency parses "20ms" or "10ms-50ms".
func parseLatency(s string) (lo, hi time.Duration, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = time.ParseDuration(strings.TrimSpace(a)); err != nil || lo < 0 {
		return 0, 0, fmt.Errorf("bad --latency %q: want a duration like 20ms or a range like 10ms-50ms", s)
	}
	hi = lo
	if isRange {
		if hi, err = time.ParseDuration(strings.TrimSpace(b)); err != nil || hi < lo {
			return 0, 0, fmt.Errorf("bad --latency %q: want a range like 10ms-50ms, low end first", s)
		}
	}
	return lo, hi, nil
}

func probability(name string, p float64) error {
	if p < 0 || p > 1 {
		return fmt.Errorf("--%s %v must be between 0 and 1", name, p)
	}
	return nil
}

func runSimServe(ctx context.Context, stdio IO, o *simServeOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.Fleet == "" {
		return exitf(ExitUsage, "sim serve needs --fleet FILE (try samples/fleet.json)")
	}
	for name, p := range map[string]float64{"fault-service-failure": o.FaultService, "fault-drop": o.FaultDrop, "fault-lost-reply": o.FaultLostReply} {
		if err := probability(name, p); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	if o.Rate < 0 || o.Burst < 0 {
		return exitf(ExitUsage, "--rate and --burst must not be negative")
	}
	if o.ResyncWindow < 1 {
		return exitf(ExitUsage, "--resync-window %d must be at least 1", o.ResyncWindow)
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return exitf(ExitUsage, "--access-key-id and --secret-access-key go together")
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return exitf(ExitUsage, "--tls-cert and --tls-key go together")
	}
	if o.TLSSelfSigned && o.TLSCert != "" {
		return exitf(ExitUsage, "use --tls-self-signed or --tls-cert/--tls-key, not both")
	}
	if o.TLSCertOut != "" && !o.TLSSelfSigned {
		return exitf(ExitUsage, "--tls-cert-out needs --tls-self-signed")
	}
	lo, hi, err := parseLatency(o.Latency)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	clock, err := iamsim.ParseClock(o.Clock)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--clock: %w", err)}
	}
	fleet, err := iamsim.LoadFleet(o.Fleet)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	cfg := iamsim.Config{
		ResyncWindow:      o.ResyncWindow,
		Rate:              o.Rate,
		Burst:             o.Burst,
		NoVerifySignature: o.NoVerifySignature,
		Faults: iamsim.Faults{ServiceFailure: o.FaultService, Drop: o.FaultDrop, LostReply: o.FaultLostReply,
			LatencyMin: lo, LatencyMax: hi},
		Seed:  o.Seed,
		Clock: clock,
	}
	if o.AccessKeyID != "" {
		k := iamsim.AccessKey{AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey}
		if len(fleet.AccessKeys) > 0 {
			k.UserName = fleet.AccessKeys[0].UserName
		}
		cfg.ExtraKeys = append(cfg.ExtraKeys, k)
	}
	if o.LogRequests {
		cfg.Log = stdio.ErrOut
	}
	if o.Ledger != "" {
		lf, err := os.OpenFile(o.Ledger, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return exitf(ExitOther, "open ledger: %v", err)
		}
		defer lf.Close()
		cfg.Ledger = lf
	}
	srv, err := iamsim.NewServer(fleet, cfg)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return exitf(ExitOther, "listen on %s: %v", o.Addr, err)
	}
	hs := srv.HTTPServer()
	scheme := "http"
	if o.TLSSelfSigned || o.TLSCert != "" {
		var cert tls.Certificate
		if o.TLSSelfSigned {
			host, _, _ := net.SplitHostPort(o.Addr)
			caPEM, c, err := iamsim.SelfSignedTLS(host)
			if err != nil {
				ln.Close()
				return exitf(ExitOther, "make a certificate: %v", err)
			}
			cert = c
			out := o.TLSCertOut
			if out == "" {
				f, err := os.CreateTemp("", "tokenbatch-sim-ca-*.pem")
				if err != nil {
					ln.Close()
					return exitf(ExitOther, "write the CA certificate: %v", err)
				}
				out = f.Name()
				f.Close()
			}
			if err := os.WriteFile(out, caPEM, 0o644); err != nil {
				ln.Close()
				return exitf(ExitOther, "write the CA certificate: %v", err)
			}
			fmt.Fprintf(stdio.ErrOut, "tls: CA certificate (use as --ca-bundle / AWS_CA_BUNDLE): %s\n", out)
		} else {
			cert, err = tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
			if err != nil {
				ln.Close()
				return exitf(ExitUsage, "load --tls-cert/--tls-key: %v", err)
			}
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	fmt.Fprintf(stdio.Out, "listening on %s://%s\n", scheme, ln.Addr())
	if f, ok := stdio.Out.(*os.File); ok {
		_ = f.Sync()
	}
	fmt.Fprintf(stdio.ErrOut, "sim: account %s, %d users, %d devices, %d access keys, resync window ±%d steps, clock %s\n",
		fleet.AccountID, len(fleet.Users), len(fleet.Devices), len(fleet.AccessKeys)+len(cfg.ExtraKeys), o.ResyncWindow,
		clock.Now().UTC().Format(time.RFC3339))

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return exitf(ExitOther, "serve: %v", err)
		}
		return nil
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shut); err != nil {
		hs.Close()
	}
	fmt.Fprintf(stdio.ErrOut, "sim: stopped (%d requests)\n", srv.Requests())
	return nil
}
