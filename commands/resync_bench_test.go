package commands

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
)

// TestBenchSingleResync compares one resync with tokenbatch and with the AWS CLI v2,
// whole process each, against the simulator: wall time and CPU time (user + system, from
// the child's rusage), median of TOKENBATCH_BENCH_RUNS runs (default 7), and the ratio.
// scripts/bench-single.sh runs it (make bench); it asserts no speed.
// TOKENBATCH_BIN names the binary to measure; without it the test builds one.
func BenchmarkSingleResync(b *testing.B) {
	t := b
	awsBin := testenv.Tool(t, testenv.AWSCLIv2)
	runs := 7
	if n, err := strconv.Atoi(os.Getenv("TOKENBATCH_BENCH_RUNS")); err == nil && n > 0 {
		runs = n
	}
	bin := os.Getenv("TOKENBATCH_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "tokenbatch")
		build := exec.Command("go", "build", "-o", bin, "../cmd/tokenbatch")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	// One simulator per tool, so that each has enough fresh devices.
	env := func(s *simtest.Sim) []string {
		return compatEnv(newAWSDir(t), s.AccessKeyID, s.SecretAccessKey)
	}
	type sample struct{ wall, cpu time.Duration }
	measure := func(name string, argv func(args []string) []string) []sample {
		sim := simtest.Start(t, simtest.Options{})
		pool := newDevicePool(sim)
		e := env(sim)
		var out []sample
		for i := 0; i < runs; i++ {
			args, _ := validArgs(t, sim, pool)
			r := runProc(t, argv(append(append([]string{"resync-mfa-device"}, args...), "--endpoint-url", sim.URL)), e, "")
			if r.Code != 0 {
				t.Fatalf("%s: %s", name, r)
			}
			out = append(out, sample{r.Wall, r.CPU})
		}
		return out
	}
	median := func(s []sample, f func(sample) time.Duration) time.Duration {
		v := make([]time.Duration, len(s))
		for i := range s {
			v[i] = f(s[i])
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[len(v)/2]
	}
	tb := measure("tokenbatch", func(a []string) []string { return append([]string{bin}, a...) })
	cli := measure("aws", func(a []string) []string { return append([]string{awsBin, "iam"}, a...) })
	wall := func(s sample) time.Duration { return s.wall }
	cpu := func(s sample) time.Duration { return s.cpu }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
	tw, tc, aw, ac := median(tb, wall), median(tb, cpu), median(cli, wall), median(cli, cpu)
	fmt.Printf("single resync, median of %d whole-process runs against the simulator\n", runs)
	fmt.Printf("%-22s %12s %12s\n", "", "wall", "cpu")
	fmt.Printf("%-22s %12s %12s\n", "tokenbatch", ms(tw), ms(tc))
	fmt.Printf("%-22s %12s %12s\n", "aws iam (CLI v2)", ms(aw), ms(ac))
	fmt.Printf("ratio aws/tokenbatch: wall %.1fx, cpu %.1fx\n", float64(aw)/float64(tw), float64(ac)/float64(max(tc, time.Microsecond)))
}
