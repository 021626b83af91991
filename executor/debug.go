package executor

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tokenbatch/tokenbatch/report"
)

// DebugMiddleware logs every request and response at debug level: operation, URL,
// header names, status, request id and date. It never logs bodies, which hold codes
// and seeds, nor header values, which hold signatures and session tokens.
func DebugMiddleware(log *slog.Logger) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("TokenbatchDebugLog",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					hdr := make([]string, 0, len(req.Header))
					for k := range req.Header {
						hdr = append(hdr, k)
					}
					u := *req.URL
					u.RawQuery = "" // a GET would carry the parameters, codes included
					log.Debug("http request", "operation", op, "method", req.Method, "url", u.String(),
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

// ScrubLog is a per-call option of an IAM client: the SDK's own log of the call
// (--debug dumps request and response bodies) goes through report.Scrub with the
// call's codes, since IAM's error bodies echo them in forms awscfg.Redact cannot know.
func ScrubLog(codes ...string) func(*iam.Options) {
	return func(o *iam.Options) {
		if o.Logger != nil {
			o.Logger = scrubLogger{next: o.Logger, codes: codes}
		}
	}
}

type scrubLogger struct {
	next  logging.Logger
	codes []string
}

func (l scrubLogger) Logf(c logging.Classification, format string, v ...any) {
	l.next.Logf(c, "%s", report.Scrub(fmt.Sprintf(format, v...), l.codes...))
}
