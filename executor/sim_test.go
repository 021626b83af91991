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
// simStart is where the simulators of these tests start their clocks, one second into
// a time step, so that their manifests (taken at once) are the same on every run. At
// "now", one device in a million shows the same code twice in a row, which the plan
// rightly refuses: 5,000 devices would make that a flaky test.
var simStart = time.Date(2030, 1, 1, 0, 0, 1, 0, time.UTC)

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

// throttleAt keeps the simulator's limit at frac of the request rate it sees, so about
// 1-frac of the requests are throttled however fast the (shared, noisy) machine lets
// the client go.
func throttleAt(t *testing.T, sim *simtest.Sim, frac float64) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		prev, last := sim.Server.Requests(), time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				n := sim.Server.Requests()
				if r := float64(n-prev) / now.Sub(last).Seconds(); r > 50 {
					sim.Server.SetRate(frac*r, 5)
				}
				prev, last = n, now
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
}

// TestSimFaults is issue 3's proof: with 10% ServiceFailure, about 20% Throttling and 2%
// dropped connections, every device succeeds and is resynced exactly once. The
// client's rate floor is its target, so it keeps sending into the throttling.
func TestSimFaults(t *testing.T) {
	n := simDevices(t)
	testenv.AWSEnv(t, iamsim.ExampleAccessKeyID, iamsim.ExampleSecretAccessKey)
	sim := simtest.Start(t, simtest.Options{Fleet: iamsim.GenerateFleet(n, 7), Clock: simStart, Rate: 800, Burst: 5,
		FaultServiceFailure: 0.10, FaultDrop: 0.02, Seed: 3})
	p := simPlan(t, sim)
	throttleAt(t, sim, 0.85)
	opts := Options{Rate: 5000, MinRate: 5000, Concurrency: 16, MaxAttempts: 10, BackoffBase: 5 * time.Millisecond,
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
	if frac < 0.05 {
		t.Errorf("only %.1f%% of requests throttled: the test does not exercise throttling", 100*frac)
	}
}

// TestSimLostReplies: when IAM applies a resync and the reply is lost, the retry finds
// the codes used: the device is in doubt, never failed, and resynced once.
func TestSimLostReplies(t *testing.T) {
	n := simDevices(t)
	testenv.AWSEnv(t, iamsim.ExampleAccessKeyID, iamsim.ExampleSecretAccessKey)
	sim := simtest.Start(t, simtest.Options{Fleet: iamsim.GenerateFleet(n, 8), Clock: simStart, FaultLostReply: 0.02, Seed: 4})
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
