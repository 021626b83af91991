package commands

import (
	"encoding/base32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/executor"
	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
	"github.com/tokenbatch/tokenbatch/internal/vpcdtest"
	"github.com/tokenbatch/tokenbatch/report"
	"github.com/tokenbatch/tokenbatch/tpmtoken/tpmtest"
	"github.com/tokenbatch/tokenbatch/vyubikey"
)

// tokenCodesAround is every code the fleet's tokens show from six steps before to three after the
// simulator's now: the codes a run may have sent, to look for where they must not be.
func tokenCodesAround(t *testing.T, sim *simtest.Sim, serials []string) []string {
	var codes []string
	for _, s := range serials {
		for k := -6; k <= 3; k++ {
			codes = append(codes, sim.TokenCode(t, s, sim.Now().Add(time.Duration(k)*30*time.Second)))
		}
	}
	return codes
}

// reportFiles is the text of a report directory's reports and journal.
func reportFiles(t *testing.T, dir string) string {
	var b strings.Builder
	for _, name := range []string{report.CSVName, report.JSONLName, report.JUnitName, executor.JournalName} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// TestRunFromTokensTwoKeys is issue 5's proof: under pcscd, two virtual keys hold the
// sample fleet's assigned virtual devices between them, and `run --from-tokens`
// resyncs every one with codes read from the keys: one read (two CALCULATE ALL) per
// key and time step, so nobody waits for a window. The report names each device's key
// and its attestation.
func TestRunFromTokensTwoKeys(t *testing.T) {
	ports := vpcdtest.BothSlots(t)
	sim := simtest.Start(t, simtest.Options{})
	testenv.AWSEnv(t, sim.AccessKeyID, sim.SecretAccessKey)
	ca, err := vyubikey.NewCA("test attestation root")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	all, err := vyubikey.FleetCredentials(sim.Fleet, vyubikey.FleetSelection{})
	if err != nil {
		t.Fatal(err)
	}
	half := len(all) / 2
	// Key A names the account by id and has a password; key B by alias.
	credsB, err := vyubikey.FleetCredentials(sim.Fleet, vyubikey.FleetSelection{Skip: half, UseAlias: true})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "batch key pw"
	keyA := vpcdtest.StartKeyOn(t, ports[0], vyubikey.Config{Serial: 31313131, Password: pw, Credentials: all[:half], CA: ca})
	keyB := vpcdtest.StartKeyOn(t, ports[1], vyubikey.Config{Serial: 42424242, Credentials: credsB, CA: ca})
	onKey := map[string]string{} // device serial -> key serial
	for i, c := range all {
		d := credentialDevice(t, sim.Fleet, c.Name)
		onKey[d.SerialNumber] = map[bool]string{true: "31313131", false: "42424242"}[i < half]
	}

	dir := filepath.Join(t.TempDir(), "report")
	code, out, errOut := mainOut("run", "--from-tokens", "--allow-virtual-readers", "--attestation-roots", caFile,
		"--oath-password", pw, "--endpoint-url", sim.URL, "--region", "us-east-1", "--report-dir", dir, "--rate", "1000")
	if code != 0 {
		t.Fatalf("run --from-tokens: exit %d\n%s\n%s", code, out, errOut)
	}
	// The plan is shown before the run: every device with its key.
	for serial, key := range onKey {
		if !strings.Contains(out, serial) || !strings.Contains(out, "yubikey:"+key) {
			t.Errorf("the plan does not show %s on key %s:\n%s", serial, key, out)
		}
	}

	// Discovery asks CALCULATE ALL once (for the touch flags); then one read per time
	// step serves every device: two, or four if the step turned during the run.
	for _, k := range []*vyubikey.Key{keyA, keyB} {
		st := k.Stats()
		if n := st.CalculateAll - 1; n != 2 && n != 4 {
			t.Errorf("key %s: %d CALCULATE ALL for its devices, want 2", k.Reader(), n)
		}
		if st.Calculate != 0 || st.Touches != 0 {
			t.Errorf("key %s: %d single CALCULATE, %d touches", k.Reader(), st.Calculate, st.Touches)
		}
	}
	ok := map[string]int{}
	for _, e := range sim.Ledger() {
		if e.Action == "ResyncMFADevice" {
			if e.Outcome != "ok" {
				t.Errorf("ledger: %s %s", e.SerialNumber, e.Outcome)
			}
			ok[e.SerialNumber]++
		}
	}
	if len(ok) != len(onKey) {
		t.Errorf("%d devices resynced, want %d", len(ok), len(onKey))
	}
	for serial := range onKey {
		if ok[serial] != 1 {
			t.Errorf("%s: %d ok resyncs in the ledger, want 1", serial, ok[serial])
		}
		if st, _ := sim.Server.Device(serial); st.DriftSteps != 0 || !st.HasLastStep {
			t.Errorf("%s: stored drift %d (resynced %v)", serial, st.DriftSteps, st.HasLastStep)
		}
	}

	rows := readReport(t, dir)
	if len(rows) != len(onKey) {
		t.Fatalf("%d report rows, want %d", len(rows), len(onKey))
	}
	for _, r := range rows {
		if r.Status != report.Succeeded || r.TokenSerial != onKey[r.SerialNumber] || r.Attestation != "genuine YubiKey 5, present" {
			t.Errorf("row %s: %s on key %q, attestation %q; want succeeded on %s, genuine and present",
				r.SerialNumber, r.Status, r.TokenSerial, r.Attestation, onKey[r.SerialNumber])
		}
	}
	csvText, _ := os.ReadFile(filepath.Join(dir, report.CSVName))
	if head, _, _ := strings.Cut(string(csvText), "\n"); !strings.Contains(head, "token_serial") || !strings.Contains(head, "attestation") {
		t.Errorf("report.csv header %q lacks the token columns", head)
	}

	serials := make([]string, 0, len(onKey))
	for s := range onKey {
		serials = append(serials, s)
	}
	text := out + errOut + reportFiles(t, dir)
	assertNoCodes(t, "output and reports", text, tokenCodesAround(t, sim, serials))
	if strings.Contains(text, pw) {
		t.Error("the oath password shows in the output or the reports")
	}
}

// credentialDevice is the fleet device a credential named as AWS's QR code names it
// stands for.
func credentialDevice(t *testing.T, f *iamsim.Fleet, cred string) iamsim.Device {
	t.Helper()
	name := cred[strings.Index(cred, ":")+1 : strings.LastIndex(cred, "@")]
	for _, d := range f.Devices {
		if strings.HasSuffix(d.SerialNumber, "/"+name) {
			return d
		}
	}
	t.Fatalf("no device for %s", cred)
	return iamsim.Device{}
}

// TestRunFromTPM is issue 6's proof for run: two seeds of the sample fleet imported
// with `tokens import-tpm` into swtpm, then `run --from-tpm` resyncs them with codes
// the TPM computes at IAM's time (three minutes behind the host's here). A saved plan
// of them is applied later with the TPM's fresh codes.
func TestRunFromTPM(t *testing.T) {
	sw := tpmtest.Start(t)
	sim := simtest.Start(t, simtest.Options{Clock: time.Now().Add(-3 * time.Minute)})
	testenv.AWSEnv(t, sim.AccessKeyID, sim.SecretAccessKey)
	store := filepath.Join(t.TempDir(), "tpm-store")
	serials := []string{"arn:aws:iam::123456789012:mfa/alice", "arn:aws:iam::123456789012:mfa/engineering/niaj"}
	var seeds [][]byte
	for _, serial := range serials {
		var seed, user string
		for _, d := range sim.Fleet.Devices {
			if d.SerialNumber == serial {
				seed, user = d.Seed, d.UserName
			}
		}
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(seed, "="))
		if err != nil || user == "" {
			t.Fatalf("%s: seed %v user %q", serial, err, user)
		}
		seeds = append(seeds, raw)
		f := filepath.Join(t.TempDir(), "seed")
		if err := os.WriteFile(f, []byte(seed+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := mainOut("tokens", "import-tpm", "--tpm", sw.Addr, "--tpm-store", store,
			"--serial", serial, "--user-name", user, "--seed-file", f); code != 0 {
			t.Fatalf("import-tpm %s: exit %d\n%s%s", serial, code, out, errOut)
		}
	}

	// Mutually exclusive sources are refused before anything is read or sent.
	code, _, errOut := mainOut("run", "--from-tpm", "--from-tokens", "--endpoint-url", sim.URL, "--region", "us-east-1")
	if code != ExitUsage || !strings.Contains(errOut, "mutually exclusive") {
		t.Errorf("--from-tpm with --from-tokens: exit %d %s", code, errOut)
	}
	code, _, errOut = mainOut("plan", "--from-tpm", "--manifest", "x.csv", "--endpoint-url", sim.URL, "--region", "us-east-1")
	if code != ExitUsage || !strings.Contains(errOut, "mutually exclusive") {
		t.Errorf("--from-tpm with --manifest: exit %d %s", code, errOut)
	}

	dir := filepath.Join(t.TempDir(), "report")
	code, out, errOut := mainOut("run", "--from-tpm", "--tpm", "unix:"+strings.TrimPrefix(sw.Addr, "unix:"),
		"--tpm-store", store, "--endpoint-url", sim.URL, "--region", "us-east-1", "--report-dir", dir)
	if code != 0 {
		t.Fatalf("run --from-tpm: exit %d\n%s\n%s", code, out, errOut)
	}
	text := out + errOut + reportFiles(t, dir)
	checkTPMRun := func(want int) {
		t.Helper()
		ok := okResyncsOf(sim)
		for _, serial := range serials {
			st, _ := sim.Server.Device(serial)
			if ok[serial] != want || st.DriftSteps != 0 || !st.HasLastStep {
				t.Errorf("%s: %d ok resyncs (want %d), stored drift %d", serial, ok[serial], want, st.DriftSteps)
			}
		}
	}
	checkTPMRun(1)
	rows := readReport(t, dir)
	for _, r := range rows {
		if r.Status != report.Succeeded || r.TokenSerial != "tpm" || r.Attestation == "" {
			t.Errorf("row %+v", r)
		}
	}
	if len(rows) != len(serials) {
		t.Errorf("%d rows, want %d", len(rows), len(serials))
	}

	// A saved plan holds no codes; apply reads fresh ones from the TPM, steps later.
	planFile := filepath.Join(t.TempDir(), "plan.json")
	code, pout, perr := mainOut("plan", "--from-tpm", "--tpm-store", store, "--endpoint-url", sim.URL,
		"--region", "us-east-1", "--out", planFile)
	if code != 0 || !strings.Contains(pout, "tpm:tpm") {
		t.Fatalf("plan --from-tpm: exit %d\n%s%s", code, pout, perr)
	}
	sim.Server.Clock().Advance(90 * time.Second) // codes of the run's step are used up
	dir2 := filepath.Join(t.TempDir(), "report2")
	code, aout, aerr := mainOut("apply", planFile, "--tpm", sw.Addr, "--tpm-store", store, "--endpoint-url", sim.URL,
		"--region", "us-east-1", "--report-dir", dir2)
	if code != 0 {
		t.Fatalf("apply of a tpm plan: exit %d\n%s\n%s", code, aout, aerr)
	}
	checkTPMRun(2)
	text += pout + perr + aout + aerr + reportFiles(t, dir2)
	planData, _ := os.ReadFile(planFile)
	text += string(planData)

	assertNoCodes(t, "output, plan and reports", text, tokenCodesAround(t, sim, serials))
	for _, seed := range seeds {
		assertNoSecret(t, "output, plan and reports", []byte(text), seed)
	}
}

func okResyncsOf(sim *simtest.Sim) map[string]int {
	ok := map[string]int{}
	for _, e := range sim.Ledger() {
		if e.Action == "ResyncMFADevice" && e.Outcome == "ok" {
			ok[e.SerialNumber]++
		}
	}
	return ok
}

// The device source is one of --manifest, --from-tokens and --from-tpm; nothing is
// read or sent otherwise.
func TestTokenSourceFlags(t *testing.T) {
	testenv.AWSEnv(t, "", "")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--manifest", "x.csv", "--from-tokens"}, "--manifest, --from-tokens and --from-tpm are mutually exclusive"},
		{[]string{"run", "--manifest", "x.csv", "--from-tpm"}, "mutually exclusive"},
		{[]string{"plan", "--from-tokens", "--from-tpm"}, "mutually exclusive"},
		{[]string{"plan", "--from-tokens", "--offline"}, "cannot be used with --offline"},
		{[]string{"run"}, "--manifest is required (or --from-tokens, or --from-tpm)"},
	} {
		code, out, errOut := mainOut(tt.args...)
		if code != ExitUsage || !strings.Contains(errOut, tt.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q, want 252 and %q", tt.args, code, errOut, tt.want)
		}
	}
}
