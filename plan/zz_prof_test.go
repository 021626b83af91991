package plan

import (
	"context"
	"os"
	"testing"
)

func TestProfPlan(t *testing.T) {
	path := os.Getenv("PROF_MANIFEST")
	if path == "" {
		t.Skip()
	}
	if _, err := os.Stat(path); err != nil {
		writeManifest(t, path, 1000000)
	}
	p, err := FromManifest(context.Background(), path, Options{MaxCodeAge: DefaultMaxCodeAge, Now: benchNow})
	if err != nil || p.Len() != 1000000 {
		t.Fatal(err)
	}
}
