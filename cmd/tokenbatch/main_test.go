package main

import (
	"encoding/csv"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/tokenbatch/tokenbatch/commands"
	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"tokenbatch": func() { os.Exit(commands.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/script: the command line as a user
// types it, with its exit codes, against a simulator at $SIM serving samples/fleet.json
// ($FLEET). Each script gets empty AWS config files and the sample's access key.
func TestScripts(t *testing.T) {
	fleetPath, err := filepath.Abs("../../samples/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			fleet, err := iamsim.LoadFleet(fleetPath)
			if err != nil {
				return err
			}
			srv, err := iamsim.NewServer(fleet, iamsim.Config{})
			if err != nil {
				return err
			}
			sim := httptest.NewServer(srv)
			env.Defer(sim.Close)
			env.Setenv("SIM", sim.URL)
			env.Setenv("FLEET", fleetPath)
			for _, f := range []string{"aws-config", "aws-credentials"} {
				if err := os.WriteFile(filepath.Join(env.WorkDir, f), nil, 0o600); err != nil {
					return err
				}
			}
			dir := env.WorkDir
			for _, kv := range testenv.Env(dir, iamsim.ExampleAccessKeyID, iamsim.ExampleSecretAccessKey) {
				k, v, _ := strings.Cut(kv, "=")
				env.Setenv(k, v)
			}
			env.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "aws-config"))
			env.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "aws-credentials"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// codes MANIFEST USER: set $CODE1 and $CODE2 to the user's codes in a manifest.
			"codes": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: codes MANIFEST USER")
				}
				f, err := os.Open(ts.MkAbs(args[0]))
				ts.Check(err)
				defer f.Close()
				rows, err := csv.NewReader(f).ReadAll()
				ts.Check(err)
				for _, r := range rows[1:] {
					if r[0] == args[1] {
						ts.Setenv("CODE1", r[2])
						ts.Setenv("CODE2", r[3])
						return
					}
				}
				ts.Fatalf("no row for %s in %s", args[1], args[0])
			},
			// exits N CMD ARGS...: run CMD and require exit code N (stdout and stderr are
			// kept for the next assertions).
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exits CODE COMMAND [ARGS...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exits: %v", err)
				}
				got := 0
				if err := ts.Exec(args[1], args[2:]...); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						ts.Fatalf("exits: %v", err)
					}
					got = ee.ExitCode()
				}
				if got != want {
					ts.Fatalf("exit code %d, want %d", got, want)
				}
			},
		},
	})
}
