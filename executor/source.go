package executor

import (
	"context"
	"time"

	"github.com/tokenbatch/tokenbatch/plan"
)

// CodeSource computes a device's two consecutive codes when its turn comes, so codes
// read from tokens are never stale. Devices with codes in the manifest need none.
type CodeSource interface {
	// Codes returns the codes for time steps T-1 and T, where T is the 30-second step
	// of now, and now is IAM's clock (not the host's).
	Codes(ctx context.Context, d plan.Device, now time.Time) (code1, code2 string, err error)
}
