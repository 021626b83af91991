package executor

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/report"
)

// simPlan plans the simulator's fleet manifest, as `tokenbatch run` does.
func simPlan(t *testing.T, sim *simtest.Sim) *plan.Plan {
	t.Helper()
	p, err := plan.FromReader(context.Background(), "fleet.csv", bytes.NewReader(sim.Manifest(t, time.Time{})),
		plan.Options{AccountID: sim.Server.AccountID(), Partition: "aws"})
	if err != nil {
		t.Fatal(err)
	}
	if p.HasErrors() || p.Len() != len(sim.Fleet.Devices) {
		t.Fatalf("plan: %d devices, problems %v", p.Len(), p.Problems)
	}
	return p
}

// okResyncs counts the ledger's successful resyncs per serial.
func okResyncs(sim *simtest.Sim) map[string]int {
	ok := map[string]int{}
	for _, e := range sim.Ledger() {
		if e.Action == "ResyncMFADevice" && e.Outcome == "ok" {
			ok[e.SerialNumber]++
		}
	}
	return ok
}

func simDevices(t *testing.T) int {
	if testing.Short() {
		return 1000
	}
	return 5000
}

// TestSimFaults is issue 3's proof: with 10% ServiceFailure, about 20% Throttling (the
// client's floor is held above the simulator's limit, so throttles never stop) and 2%
// dropped connections, every device succeeds and is resynced exactly once.
func TestSimFaults(t *testing.T) {
	n := simDevices(t)
	testenv.AWSEnv(t, iamsim.ExampleAccessKeyID, iamsim.ExampleSecretAccessKey)
	sim := simtest.Start(t, simtest.Options{Fleet: iamsim.GenerateFleet(n, 7), Rate: 850, Burst: 10,
		FaultServiceFailure: 0.10, FaultDrop: 0.02, Seed: 3})
	p := simPlan(t, sim)
	opts := Options{Rate: 1200, MinRate: 1200, Concurrency: 16, MaxAttempts: 10, BackoffBase: 5 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond, AccountID: p.AccountID, Journal: newTestJournal(t, p)}
	res := mustRun(t, context.Background(), iam.NewFromConfig(sim.Config(t)), p, opts)
	counts := map[report.Status]int{}
	for _, o := range res.Outcomes {
		counts[o.Status]++
		if o.Status != report.Succeeded {
			t.Errorf("%s: %s %s %s", o.SerialNumber, o.Status, o.ErrorCode, o.ErrorMessage)
		}
	}
	ok := okResyncs(sim)
	for i := range p.Len() {
		if s := p.Device(i).SerialNumber; ok[s] != 1 {
			t.Errorf("%s resynced %d times in the ledger", s, ok[s])
		}
	}
	frac := float64(res.Throttled) / float64(res.Requests)
	t.Logf("%d devices: %v; %d requests, %.1f%% throttled, %s", n, counts, res.Requests, 100*frac, res.Elapsed())
	if frac < 0.10 {
		t.Errorf("only %.1f%% of requests throttled: the test does not exercise throttling", 100*frac)
	}
}

// TestSimLostReplies: when IAM applies a resync and the reply is lost, the retry finds
// the codes used: the device is in doubt, never failed, and resynced once.
func TestSimLostReplies(t *testing.T) {
	n := simDevices(t)
	testenv.AWSEnv(t, iamsim.ExampleAccessKeyID, iamsim.ExampleSecretAccessKey)
	sim := simtest.Start(t, simtest.Options{Fleet: iamsim.GenerateFleet(n, 8), FaultLostReply: 0.02, Seed: 4})
	p := simPlan(t, sim)
	opts := Options{Rate: 5000, Concurrency: 16, MaxAttempts: 10, BackoffBase: 5 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond, AccountID: p.AccountID, Journal: newTestJournal(t, p)}
	res := mustRun(t, context.Background(), iam.NewFromConfig(sim.Config(t)), p, opts)
	counts := map[report.Status]int{}
	for _, o := range res.Outcomes {
		counts[o.Status]++
		if o.Status != report.Succeeded && o.Status != report.InDoubt {
			t.Errorf("%s: %s %s %s", o.SerialNumber, o.Status, o.ErrorCode, o.ErrorMessage)
		}
	}
	if counts[report.InDoubt] == 0 {
		t.Errorf("no device in doubt: were replies lost? %v", counts)
	}
	ok := okResyncs(sim)
	for i := range p.Len() {
		if s := p.Device(i).SerialNumber; ok[s] != 1 {
			t.Errorf("%s resynced %d times in the ledger", s, ok[s])
		}
	}
	t.Logf("%d devices: %v; %d requests, %s", n, counts, res.Requests, res.Elapsed())
}

func newTestJournal(t *testing.T, p *plan.Plan) *Journal {
	t.Helper()
	j, err := CreateJournal(t.TempDir(), Header{ManifestDigest: p.ManifestDigest, AccountID: p.AccountID, Devices: p.Len()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}
