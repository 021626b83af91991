package awscfg

import (
	"strings"
	"testing"

	"github.com/aws/smithy-go/logging"
)

func TestSDKWarnings(t *testing.T) {
	var b strings.Builder
	l := sdkWarnings{w: &b}
	l.Logf(logging.Warn, "failed to discard remaining HTTP response body, this may affect connection reuse: %v", "read tcp: use of closed network connection")
	l.Logf(logging.Warn, "failed to close HTTP response body, this may affect connection reuse")
	if b.Len() != 0 {
		t.Errorf("response-body warnings were passed on: %q", b.String())
	}
	l.Logf(logging.Warn, "Attempting credential expiration extension due to a credential service availability issue.")
	if got := b.String(); got != "tokenbatch: aws sdk warn: Attempting credential expiration extension due to a credential service availability issue.\n" {
		t.Errorf("warning = %q", got)
	}
}
