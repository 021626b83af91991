package plan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The 1,000,000-row benchmark plans in a child process, so that the peak RSS it
// reports (VmHWM) belongs to planning alone, not to the benchmark's own generator.
const childEnv = "TOKENBATCH_PLAN_BENCH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(benchChild(path))
	}
	os.Exit(m.Run())
}

// benchNow is the clock of the generated manifests: rows were collected in the minute
// before it, so none is stale.
var benchNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type childResult struct {
	Seconds  float64 `json:"seconds"`
	VmHWMKiB int64   `json:"vmhwm_kib"`
	Devices  int     `json:"devices"`
	Problems int     `json:"problems"`
}

func benchChild(path string) int {
	start := time.Now()
	p, err := FromManifest(context.Background(), path, Options{MaxCodeAge: DefaultMaxCodeAge, Now: benchNow})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	res := childResult{Seconds: time.Since(start).Seconds(), Devices: p.Len(), Problems: len(p.Problems)}
	res.VmHWMKiB = vmHWM()
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// vmHWM returns the process's peak resident set size in KiB.
func vmHWM() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// writeManifest writes an n-row manifest of virtual devices, with collected_at and a
// ticket, in collection order except for a shuffled tail, so ordering has work to do.
func writeManifest(t testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("user_name,serial_number,authentication_code1,authentication_code2,collected_at,ticket\n")
	var line []byte
	for i := range n {
		at := benchNow.Add(-time.Minute + time.Duration(i%60000)*time.Millisecond)
		if i >= n-n/10 {
			at = benchNow.Add(-time.Minute + time.Duration((n-i)%60000)*time.Millisecond)
		}
		line = line[:0]
		line = fmt.Appendf(line, "user-%07d,arn:aws:iam::123456789012:mfa/user-%07d,%06d,%06d,", i, i, i%1000000, (i+7)%1000000)
		line = at.AppendFormat(line, time.RFC3339Nano)
		line = fmt.Appendf(line, ",CHG-%d\n", i/1000)
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPlan1M plans a generated 1,000,000-row manifest offline and reports the
// time FromManifest takes (s/plan) and the planning process's peak RSS (peak-RSS-MiB).
// Targets: at most 3 s and 256 MiB. Run it with
//
//	go test -run '^$' -bench Plan1M -benchtime 1x ./plan/
func BenchmarkPlan1M(b *testing.B) {
	benchPlanN(b, 1_000_000)
}

func benchPlanN(b *testing.B, n int) {
	path := filepath.Join(b.TempDir(), "manifest.csv")
	writeManifest(b, path, n)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var secs, peak float64
	for range b.N {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			b.Fatalf("child: %v: %s", err, errOut.String())
		}
		var res childResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			b.Fatalf("child output %q: %v", out.String(), err)
		}
		if res.Devices != n || res.Problems != 0 {
			b.Fatalf("planned %d devices with %d problems, want %d and 0", res.Devices, res.Problems, n)
		}
		secs += res.Seconds
		peak = max(peak, float64(res.VmHWMKiB)/1024)
	}
	b.ReportMetric(secs/float64(b.N), "s/plan")
	b.ReportMetric(peak, "peak-RSS-MiB")
	b.ReportMetric(float64(n)*float64(b.N)/secs, "rows/s")
	// The targets (issue 3): 1,000,000 rows in 3 s or less, within 256 MiB.
	if secs/float64(b.N) > 3 || peak > 256 {
		b.Errorf("%.2f s and %.1f MiB peak RSS, want at most 3 s and 256 MiB", secs/float64(b.N), peak)
	}
}
