package executor

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go/logging"

	"github.com/tokenbatch/tokenbatch/report"
)

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
