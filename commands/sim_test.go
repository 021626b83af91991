package commands

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleFleet() string { return filepath.Join("..", "samples", "fleet.json") }

func TestSimServeFirstLineAndStop(t *testing.T) {
	pr, pw := io.Pipe()
	var errOut bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	done := make(chan error, 1)
	go func() {
		done <- runSimServe(ctx, IO{Out: pw, ErrOut: &errOut}, &simServeOptions{Fleet: sampleFleet(), Addr: "127.0.0.1:0",
			Clock: "now", ResyncWindow: 60, Ledger: ledger, Seed: 1})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "listening on http://127.0.0.1:") {
		t.Fatalf("first line %q", line)
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	resp, err := http.Get(url + "/?Action=ListUsers&Version=2010-05-08")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 { // unsigned
		t.Errorf("status %d", resp.StatusCode)
	}
	go io.Copy(io.Discard, pr)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	if _, err := os.Stat(ledger); err != nil {
		t.Error(err)
	}
}

func TestSimServeFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "serve"},
		{"sim", "serve", "--fleet", sampleFleet(), "--fault-drop", "2"},
		{"sim", "serve", "--fleet", sampleFleet(), "--latency", "50ms-10ms"},
		{"sim", "serve", "--fleet", sampleFleet(), "--clock", "yesterday"},
		{"sim", "serve", "--fleet", sampleFleet(), "--access-key-id", "AKIAIOSFODNN7EXAMPL2"},
		{"sim", "serve", "--fleet", "no-such-file.json"},
		{"sim", "manifest", "--fleet", sampleFleet(), "--at", "soon"},
		{"sim", "fleet", "--devices", "0"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(args, strings.NewReader(""), &out, &errOut); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, ExitUsage, errOut.String())
		}
	}
}

func TestSimManifestAndFleet(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"sim", "manifest", "--fleet", sampleFleet(), "--at", "2025-01-01T00:00:00Z"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[0] != "user_name,serial_number,authentication_code1,authentication_code2" || len(lines) < 20 {
		t.Fatalf("manifest %q", out.String())
	}
	path := filepath.Join(t.TempDir(), "fleet.json")
	if code := Main([]string{"sim", "fleet", "--devices", "50", "--seed", "3", "-o", path}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("fleet file %v %v", st, err)
	}
	var a, b bytes.Buffer
	Main([]string{"sim", "fleet", "--devices", "50", "--seed", "3"}, nil, &a, &errOut)
	Main([]string{"sim", "fleet", "--devices", "50", "--seed", "3"}, nil, &b, &errOut)
	data, _ := os.ReadFile(path)
	if a.String() != b.String() || a.String() != string(data) {
		t.Error("fleet output not deterministic")
	}
}
