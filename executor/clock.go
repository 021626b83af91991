package executor

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Clock is IAM's clock as the Date headers of its responses show it. Codes computed
// from a token must match IAM's time step, not the host's, which may drift.
type Clock struct {
	offset atomic.Int64 // nanoseconds to add to the host's clock
	seen   atomic.Bool
}

// Now is the host's time corrected by the last observed offset.
func (c *Clock) Now() time.Time { return time.Now().Add(c.Offset()) }

// Offset is IAM's clock minus the host's, as last observed; 0 before any response.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// Observed reports whether a response's Date header has been seen.
func (c *Clock) Observed() bool { return c.seen.Load() }

// Observe records a Date header value received at local time at.
func (c *Clock) Observe(date time.Time, at time.Time) {
	// Date has a resolution of one second and truncates: the server's time was
	// somewhere in the second after it, so take the middle.
	off := date.Add(500 * time.Millisecond).Sub(at)
	// Within a second, the host's clock is as good as the header's.
	if off > -time.Second && off < time.Second {
		off = 0
	}
	c.offset.Store(int64(off))
	c.seen.Store(true)
}

// AddMiddleware reads the Date header of every response of a client. Add it to
// aws.Config.APIOptions or iam.Options.APIOptions.
func (c *Clock) AddMiddleware(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("TokenbatchIAMClock",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp != nil {
				if t, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
					c.Observe(t, time.Now())
				}
			}
			return out, md, err
		}), middleware.After)
}

// DebugMiddleware logs every request and response at debug level: operation, URL,
// status, request id and date. It never logs bodies, which hold the codes, nor the
// Authorization and session token headers.
func DebugMiddleware(log *slog.Logger) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("TokenbatchDebugLog",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					var hdr []string
					for k := range req.Header {
						if !strings.EqualFold(k, "Authorization") && !strings.EqualFold(k, "X-Amz-Security-Token") {
							hdr = append(hdr, k)
						}
					}
					log.Debug("http request", "operation", op, "method", req.Method, "url", req.URL.String(),
						"headers", strings.Join(hdr, ","), "body", "[redacted]")
				}
				start := time.Now()
				out, md, err := next.HandleDeserialize(ctx, in)
				if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp != nil {
					log.Debug("http response", "operation", op, "status", resp.StatusCode,
						"request_id", resp.Header.Get("X-Amzn-Requestid"), "date", resp.Header.Get("Date"),
						"ms", time.Since(start).Milliseconds())
				} else if err != nil {
					log.Debug("http no response", "operation", op, "ms", time.Since(start).Milliseconds())
				}
				return out, md, err
			}), middleware.After)
	}
}
