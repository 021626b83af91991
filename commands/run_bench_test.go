package commands

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
	"github.com/tokenbatch/tokenbatch/report"
)

// BenchmarkBatch measures issue 3's batch figures, as processes against `tokenbatch sim
// serve` (make bench):
//
//	go test -run '^$' -bench '^BenchmarkBatch$' -benchtime 1x -timeout 20m ./commands
//
// (a) CPU per device (user+sys of the tokenbatch process) resyncing 10,000 devices
// unthrottled, against the AWS CLI v2 resyncing 50 devices one process each: the ratio
// must be 500 or more. (b) --rate 100 against a simulator limit of 50 requests/s on
// 5,000 devices: the achieved rate must be 95% of the limit or more, with no device
// failed by throttling.
// benchStart is where the simulators start their clocks, so that every run resyncs the
// same codes: at "now", a device in a million shows the same code twice in a row, which
// the plan refuses.
var benchStart = time.Date(2030, 1, 1, 0, 0, 1, 0, time.UTC)

func BenchmarkBatch(b *testing.B) {
	t := b
	bin := buildTokenbatch(t)
	aws := testenv.Tool(t, testenv.AWSCLIv2)
	env := testenv.CleanEnv(testenv.Env(t.TempDir(), iamsim.ExampleAccessKeyID, iamsim.ExampleSecretAccessKey)...)

	t.Run("cpu", func(t *testing.B) {
		const n, cliN = 10000, 50
		fleet := iamsim.GenerateFleet(n, 21)
		sim := startSimProcess(t, bin, fleet, "--clock", benchStart.Format(time.RFC3339))
		manifest := writeManifest(t, fleet, benchStart)
		dir := filepath.Join(t.TempDir(), "r")
		r := runProc(t, []string{bin, "run", "--manifest", manifest, "--endpoint-url", sim.URL, "--report-dir", dir,
			"--rate", "100000", "--concurrency", "8"}, env, "")
		if r.Code != 0 {
			t.Fatalf("tokenbatch run: %s", r)
		}
		tbPer := r.CPU / n

		cliFleet := iamsim.GenerateFleet(cliN, 22)
		cliSim := startSimProcess(t, bin, cliFleet, "--clock", benchStart.Format(time.RFC3339))
		var buf bytes.Buffer
		iamsim.WriteManifest(&buf, cliFleet, benchStart)
		recs, _ := csv.NewReader(&buf).ReadAll()
		var cliCPU, cliWall time.Duration
		for _, rec := range recs[1:] {
			r := runProc(t, []string{aws, "iam", "resync-mfa-device", "--endpoint-url", cliSim.URL, "--user-name", rec[0],
				"--serial-number", rec[1], "--authentication-code1", rec[2], "--authentication-code2", rec[3]}, env, "")
			if r.Code != 0 {
				t.Fatalf("aws iam resync-mfa-device: %s", r)
			}
			cliCPU += r.CPU
			cliWall += r.Wall
		}
		cliPer := cliCPU / cliN
		ratio := float64(cliPer) / float64(tbPer)
		fmt.Printf("BENCH batch_cpu: tokenbatch %d devices in %s wall, %s CPU, %.1f µs CPU/device; aws cli v2 %d devices %.0f ms CPU/device (%.0f ms wall); ratio %.0f (want >= 500)\n",
			n, r.Wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond), float64(tbPer)/1e3, cliN,
			float64(cliPer)/1e6, float64(cliWall/cliN)/1e6, ratio)
		if ratio < 500 {
			t.Errorf("per-device CPU ratio %.0f < 500", ratio)
		}
	})

	t.Run("throttled", func(t *testing.B) {
		const n, limit = 5000, 50.0
		fleet := iamsim.GenerateFleet(n, 23)
		sim := startSimProcess(t, bin, fleet, "--rate", strconv.Itoa(int(limit)), "--clock", benchStart.Format(time.RFC3339))
		// Codes are collected just before the run; 5,000 devices at 50/s take 100 s,
		// within the simulator's default window of steps either side.
		manifest := writeManifest(t, fleet, benchStart)
		dir := filepath.Join(t.TempDir(), "r")
		r := runProc(t, []string{bin, "run", "--manifest", manifest, "--endpoint-url", sim.URL, "--report-dir", dir,
			"--rate", "100", "--concurrency", "16"}, env, "")
		rows := readReport(t, dir)
		var first, last time.Time
		succeeded, throttledFail := 0, 0
		for _, o := range rows {
			if o.Status == report.Succeeded {
				succeeded++
			}
			if o.Status == report.Failed && o.ErrorCode == "Throttling" {
				throttledFail++
			}
			if !o.StartedAt.IsZero() && (first.IsZero() || o.StartedAt.Before(first)) {
				first = o.StartedAt
			}
			if o.FinishedAt.After(last) {
				last = o.FinishedAt
			}
		}
		// The simulator's bucket starts full (--burst defaults to the rate): those requests
		// were not rate limited, so they do not count towards the achieved rate.
		achieved := (float64(succeeded) - limit) / last.Sub(first).Seconds()
		fmt.Printf("BENCH batch_throttled: %d devices, %d succeeded in %s: %.2f devices/s = %.3f of the %.0f/s limit (want >= 0.95); %d failed by throttling (want 0); exit %d\n%s",
			n, succeeded, last.Sub(first).Round(time.Millisecond), achieved, achieved/limit, limit, throttledFail, r.Code, r.Stdout)
		if r.Code != 0 || achieved/limit < 0.95 || throttledFail > 0 {
			t.Errorf("throttled run below target: %s", r)
		}
	})
}
