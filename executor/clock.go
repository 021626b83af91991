package executor

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

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
