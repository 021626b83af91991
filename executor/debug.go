package executor

import (
	"context"
	"log/slog"
	"strings"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
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
