package commands

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tokenbatch/tokenbatch/executor"
	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
	"github.com/tokenbatch/tokenbatch/tpmtoken"
	"github.com/tokenbatch/tokenbatch/tpmtoken/tpmtest"
)

// seedTap is a proxy in front of the simulator that keeps the seeds IAM returns, so
// a test can look for them where they must not be.
type seedTap struct {
	URL   string
	mu    sync.Mutex
	seeds [][]byte
}

func newSeedTap(t *testing.T, target string) *seedTap {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tap := &seedTap{}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(r *http.Response) error {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var x struct {
			Seed string `xml:"CreateVirtualMFADeviceResult>VirtualMFADevice>Base32StringSeed"`
		}
		if xml.Unmarshal(body, &x) == nil && x.Seed != "" {
			b32, _ := base64.StdEncoding.DecodeString(x.Seed)
			raw, err := base32.StdEncoding.DecodeString(string(b32))
			if err != nil {
				t.Errorf("the simulator's seed does not decode: %v", err)
			}
			tap.mu.Lock()
			tap.seeds = append(tap.seeds, raw)
			tap.mu.Unlock()
		}
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	tap.URL = srv.URL
	return tap
}

func assertNoSecret(t *testing.T, where string, data []byte, secret []byte) {
	t.Helper()
	low := bytes.ToLower(data)
	for name, f := range tpmtest.SecretForms(secret) {
		if bytes.Contains(data, f) || (name != "raw" && bytes.Contains(low, bytes.ToLower(f))) {
			t.Errorf("%s holds the seed (%s)", where, name)
		}
	}
}

func storeBytes(t *testing.T, dir string) []byte {
	var all []byte
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("%s has mode %o, want 700", p, fi.Mode().Perm())
			}
			return nil
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 600", p, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		all = append(all, b...)
		return nil
	})
	return all
}

func simAWS(t *testing.T, endpoint, key, secret string) (o tokensProvisionTPMOptions) {
	testenv.AWSEnv(t, key, secret)
	o.AWS.EndpointURL = endpoint
	o.AWS.Region = "us-east-1"
	return o
}

func TestTokensProvisionTPM(t *testing.T) {
	sw := tpmtest.Start(t)
	// IAM's clock is 7 minutes ahead of the host's: codes from the host's clock would
	// be recorded as drift.
	sim := simtest.Start(t, simtest.Options{Clock: time.Now().Add(7 * time.Minute)})
	tap := newSeedTap(t, sim.URL)
	store := filepath.Join(t.TempDir(), "tpm-store")
	o := simAWS(t, tap.URL, sim.AccessKeyID, sim.SecretAccessKey)
	o.TPM.Device, o.TPM.Store = sw.Addr, store
	o.UserName, o.DeviceName = "bob", "bob-tpm"
	o.AWS.Debug = true
	var out, errOut bytes.Buffer
	stdio := IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	if err := runTokensProvisionTPM(context.Background(), stdio, &o); err != nil {
		t.Fatalf("provision-tpm: %v\n%s", err, errOut.String())
	}
	serial := "arn:aws:iam::123456789012:mfa/bob-tpm"
	if !strings.Contains(out.String(), serial) {
		t.Errorf("output %q does not name %s", out.String(), serial)
	}
	if !strings.Contains(errOut.String(), "CreateVirtualMFADevice") {
		t.Errorf("--debug logged no requests: %q", errOut.String())
	}
	// One log per request (the SDK's, redacted), not a second from a middleware.
	for _, action := range []string{"Action=CreateVirtualMFADevice&", "Action=EnableMFADevice&"} {
		if n := strings.Count(errOut.String(), action); n != 1 {
			t.Errorf("--debug logged %s %d times, want once", action, n)
		}
	}
	if !strings.Contains(errOut.String(), "AuthenticationCode1=<redacted>") {
		t.Errorf("--debug did not redact the codes")
	}
	ds, ok := sim.Server.Device(serial)
	if !ok || ds.UserName != "bob" || ds.DriftSteps != 0 {
		t.Fatalf("device in iam: %+v, %v; want enabled for bob with no drift", ds, ok)
	}

	// Sign in as bob with a TPM code, one step later (the enable used up step T).
	sim.Server.Clock().Advance(30 * time.Second)
	st, err := tpmtoken.OpenStore(store, false)
	if err != nil {
		t.Fatal(err)
	}
	src := tpmtoken.NewSource(st, sw.Addr, nil)
	defer src.Close()
	devs, err := tpmtoken.Devices(store)
	if err != nil || len(devs) != 1 {
		t.Fatalf("Devices = %v, %v", devs, err)
	}
	_, code, err := src.Codes(context.Background(), devs[0], sim.Now())
	if err != nil {
		t.Fatal(err)
	}
	bobKey := sim.Fleet.AccessKeys[2]
	if bobKey.UserName != "bob" {
		t.Fatalf("the sample fleet's third key is %s's, not bob's", bobKey.UserName)
	}
	stsc := sts.NewFromConfig(sim.ConfigWithKey(t, bobKey.AccessKeyID, bobKey.SecretAccessKey, ""))
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	if _, err := stsc.GetSessionToken(context.Background(), &sts.GetSessionTokenInput{SerialNumber: aws.String(serial), TokenCode: aws.String(wrong)}); err == nil {
		t.Error("GetSessionToken accepted a wrong code")
	}
	gst, err := stsc.GetSessionToken(context.Background(), &sts.GetSessionTokenInput{SerialNumber: aws.String(serial), TokenCode: aws.String(code)})
	if err != nil || gst.Credentials == nil {
		t.Fatalf("GetSessionToken with the tpm's code: %v", err)
	}

	// The seed IAM returned is nowhere: output, store, ledger.
	if len(tap.seeds) != 1 || len(tap.seeds[0]) != 40 {
		t.Fatalf("tapped %d seeds", len(tap.seeds))
	}
	ledger, _ := json.Marshal(sim.Ledger())
	for where, data := range map[string][]byte{"stdout": out.Bytes(), "stderr": errOut.Bytes(), "store": storeBytes(t, store), "ledger": ledger} {
		assertNoSecret(t, where, data, tap.seeds[0])
	}

	// A second device of the same name fails in IAM before anything is created.
	// swtpm serves one client at a time: release it first.
	src.Close()
	err = runTokensProvisionTPM(context.Background(), stdio, &o)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitService {
		t.Errorf("provisioning a taken name: %v, want exit %d", err, ExitService)
	}
}

func TestTokensProvisionTPMUndo(t *testing.T) {
	sw := tpmtest.Start(t)
	sim := simtest.Start(t, simtest.Options{})
	store := filepath.Join(t.TempDir(), "tpm-store")
	o := simAWS(t, sim.URL, sim.AccessKeyID, sim.SecretAccessKey)
	o.TPM.Device, o.TPM.Store = sw.Addr, store
	o.UserName, o.DeviceName = "no-such-user", "orphan"
	var out, errOut bytes.Buffer
	err := runTokensProvisionTPM(context.Background(), IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &o)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitService || !strings.Contains(err.Error(), "deleted again") {
		t.Fatalf("enable for a missing user: %v, want exit %d and the device deleted", err, ExitService)
	}
	if _, ok := sim.Server.Device("arn:aws:iam::123456789012:mfa/orphan"); ok {
		t.Error("the device is still in iam")
	}
	var actions []string
	for _, e := range sim.Ledger() {
		actions = append(actions, e.Action+":"+e.Outcome)
	}
	if got := strings.Join(actions, " "); !strings.Contains(got, "CreateVirtualMFADevice:ok") || !strings.Contains(got, "DeleteVirtualMFADevice:ok") {
		t.Errorf("ledger %s", got)
	}
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Errorf("the store holds %d files after the undo", len(entries))
	}

	// Without a TPM, nothing is created in IAM.
	o.TPM.Device = "unix:" + filepath.Join(t.TempDir(), "none")
	o.UserName, o.DeviceName = "bob", "never"
	n := len(sim.Ledger())
	if err := runTokensProvisionTPM(context.Background(), IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &o); !errors.Is(err, tpmtoken.ErrOpen) {
		t.Errorf("without a tpm: %v, want ErrOpen", err)
	}
	if len(sim.Ledger()) != n {
		t.Error("iam was called although the tpm could not be opened")
	}
}

// TestTokensProvisionTPMLostEnableReply loses IAM's answer to EnableMFADevice after
// the device was enabled: the device and its key must both stay, since the key is
// the only source of the enabled device's codes.
func TestTokensProvisionTPMLostEnableReply(t *testing.T) {
	sw := tpmtest.Start(t)
	sim := simtest.Start(t, simtest.Options{})
	sim.Server.SetFaults(iamsim.Faults{LostReply: 1, Actions: []string{"EnableMFADevice"}})
	store := filepath.Join(t.TempDir(), "tpm-store")
	provision := func(o *tokensProvisionTPMOptions, device string) (string, error) {
		o.TPM.Device, o.TPM.Store = sw.Addr, store
		o.UserName, o.DeviceName = "bob", device
		var out, errOut bytes.Buffer
		err := runTokensProvisionTPM(context.Background(), IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, o)
		return out.String() + errOut.String(), err
	}
	keptAndWorks := func(serial string) {
		t.Helper()
		if ds, ok := sim.Server.Device(serial); !ok || ds.UserName != "bob" {
			t.Fatalf("%s in iam: %+v, %v; want enabled for bob", serial, ds, ok)
		}
		st, err := tpmtoken.OpenStore(store, false)
		if err != nil {
			t.Fatal(err)
		}
		e, err := st.Get(serial)
		if err != nil {
			t.Fatalf("the key of the enabled device was removed: %v", err)
		}
		tpm, err := tpmtoken.Open(sw.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer tpm.Close()
		// A sign-in with the kept key's code, a step after the ones the enable used.
		sim.Server.Clock().Advance(30 * time.Second)
		codes, err := tpm.Codes(e.Key, nil, tpmtoken.Digits, tpmtoken.Step(sim.Now()))
		if err != nil {
			t.Fatal(err)
		}
		bob := sim.Fleet.AccessKeys[2]
		stsc := sts.NewFromConfig(sim.ConfigWithKey(t, bob.AccessKeyID, bob.SecretAccessKey, ""))
		if _, err := stsc.GetSessionToken(context.Background(), &sts.GetSessionTokenInput{SerialNumber: aws.String(serial), TokenCode: aws.String(codes[0])}); err != nil {
			t.Errorf("GetSessionToken with the kept key's code: %v", err)
		}
	}

	// IAM can be asked: the enable went through, so this is a success.
	o := simAWS(t, sim.URL, sim.AccessKeyID, sim.SecretAccessKey)
	out, err := provision(&o, "bob-lost")
	if err != nil {
		t.Fatalf("provision-tpm with the enable's reply lost: %v\n%s", err, out)
	}
	if !strings.Contains(out, "enabled for bob") || !strings.Contains(out, "kept") {
		t.Errorf("output does not say the device is enabled and kept: %q", out)
	}
	keptAndWorks("arn:aws:iam::123456789012:mfa/bob-lost")

	// IAM cannot be asked (ListMFADevices denied): the undo finds the device in use
	// and keeps it and its key, and says so.
	if err := sim.Server.AddKey(iamsim.AccessKey{AccessKeyID: "AKIAINOLISTEXAMPLE01", SecretAccessKey: "noListMFADevicesSecret/EXAMPLEKEY",
		UserName: "mfa-admin", DenyActions: []string{"iam:ListMFADevices"}}); err != nil {
		t.Fatal(err)
	}
	o = simAWS(t, sim.URL, "AKIAINOLISTEXAMPLE01", "noListMFADevicesSecret/EXAMPLEKEY")
	out, err = provision(&o, "bob-unknown")
	if err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), "key is kept") {
		t.Fatalf("provision-tpm with the enable's reply lost and no ListMFADevices: %v, want an error saying the device and key are kept\n%s", err, out)
	}
	if strings.Contains(err.Error(), "delete-virtual-mfa-device") {
		t.Errorf("the error advises a delete that cannot work on an enabled device: %v", err)
	}
	keptAndWorks("arn:aws:iam::123456789012:mfa/bob-unknown")

	var actions []string
	for _, e := range sim.Ledger() {
		actions = append(actions, e.Action+":"+e.Outcome+":"+e.Fault)
	}
	want := "CreateVirtualMFADevice:ok: EnableMFADevice:ok:lost-reply GetSessionToken:ok: " +
		"CreateVirtualMFADevice:ok: EnableMFADevice:ok:lost-reply DeleteVirtualMFADevice:DeleteConflict: GetSessionToken:ok:"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("ledger\n%s\nwant\n%s", got, want)
	}
}

// TestTokensProvisionTPMAWSExit checks that the aws configuration's errors keep the
// AWS CLI's exit codes, and that nothing is created in IAM.
func TestTokensProvisionTPMAWSExit(t *testing.T) {
	sw := tpmtest.Start(t)
	for _, c := range []struct {
		name string
		set  func(*tokensProvisionTPMOptions)
		code int
	}{
		{"bad endpoint", func(o *tokensProvisionTPMOptions) { o.AWS.EndpointURL = "not a url" }, ExitUsage},
		{"missing profile", func(o *tokensProvisionTPMOptions) { o.AWS.Profile = "no-such-profile" }, ExitOther},
		{"no credentials", func(o *tokensProvisionTPMOptions) { testenv.AWSEnv(t, "", "") }, ExitConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := simAWS(t, "http://127.0.0.1:1", "AKIAIOSFODNN7EXAMPLE", "secret")
			o.TPM.Device, o.TPM.Store = sw.Addr, filepath.Join(t.TempDir(), "s")
			o.UserName, o.DeviceName = "bob", "bob-tpm"
			c.set(&o)
			err := runTokensProvisionTPM(context.Background(), IO{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}, &o)
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != c.code {
				t.Errorf("%v, want exit %d", err, c.code)
			}
		})
	}
}

// TestTokensImportTPMResync imports fleet devices' seeds and resyncs them through
// the Source against the simulator, as `run --from-tpm` does.
func TestTokensImportTPMResync(t *testing.T) {
	sw := tpmtest.Start(t)
	sim := simtest.Start(t, simtest.Options{Clock: time.Now().Add(-3 * time.Minute)})
	store := filepath.Join(t.TempDir(), "tpm-store")
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	seeds := map[string][]byte{}
	for i, name := range []string{"alice", "carol", "engineering/niaj"} {
		serial := "arn:aws:iam::123456789012:mfa/" + name
		var seed string
		var user string
		for _, d := range sim.Fleet.Devices {
			if d.SerialNumber == serial {
				seed, user = d.Seed, d.UserName
			}
		}
		if seed == "" {
			t.Fatalf("%s is not in the sample fleet", serial)
		}
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(seed, "="))
		if err != nil {
			t.Fatal(err)
		}
		seeds[serial] = raw
		o := &tokensImportTPMOptions{Serial: serial, UserName: user}
		o.TPM.Device, o.TPM.Store = sw.Addr, store
		in := io.Reader(strings.NewReader(""))
		if i == 2 {
			// From standard input, with an authValue typed on the terminal.
			o.SeedFile = "-"
			in = strings.NewReader(seed + "\n")
			o.TPM.KeyAuth = true
			o.TPM.readSecret = func(string) ([]byte, error) { return []byte("niaj pin"), nil }
		} else {
			o.SeedFile = filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+".seed")
			if err := os.WriteFile(o.SeedFile, []byte(seed+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var before os.FileInfo
		if o.SeedFile != "-" {
			before, _ = os.Stat(o.SeedFile)
		}
		if err := runTokensImportTPM(context.Background(), IO{In: in, Out: &out, ErrOut: &errOut}, o); err != nil {
			t.Fatalf("import-tpm %s: %v", serial, err)
		}
		if o.SeedFile != "-" {
			after, _ := os.Stat(o.SeedFile)
			data, _ := os.ReadFile(o.SeedFile)
			if string(data) != seed+"\n" || !after.ModTime().Equal(before.ModTime()) {
				t.Error("the seed file was changed")
			}
		}
	}
	if !strings.Contains(errOut.String(), "shred -u") {
		t.Errorf("no note to destroy the seed file: %q", errOut.String())
	}
	if des, _ := os.ReadDir(dir); len(des) != 2 {
		t.Errorf("the seed directory holds %d files: the seed was copied", len(des))
	}

	// Importing again is refused.
	again := &tokensImportTPMOptions{Serial: "arn:aws:iam::123456789012:mfa/alice", UserName: "alice", SeedFile: filepath.Join(dir, "alice.seed")}
	again.TPM.Device, again.TPM.Store = sw.Addr, store
	if err := runTokensImportTPM(context.Background(), IO{Out: &out, ErrOut: &errOut}, again); !errors.Is(err, tpmtoken.ErrExists) {
		t.Errorf("importing twice: %v, want ErrExists", err)
	}

	// swtpm restarts between the import and the run: the store still works.
	sw.Restart(t)

	// What `run --from-tpm` does: the store's devices, codes from the Source at
	// IAM's clock when each device's turn comes, ResyncMFADevice.
	to := &tpmOptions{Device: sw.Addr, Store: store, KeyAuth: true, readSecret: func(string) ([]byte, error) { return []byte("niaj pin"), nil }}
	devs, err := to.tpmDevices()
	if err != nil || len(devs) != 3 {
		t.Fatalf("devices: %v, %v", devs, err)
	}
	// Without --tpm-key-auth, the device whose key has an authValue fails with a hint.
	noAuth := &tpmOptions{Device: sw.Addr, Store: store}
	s0, err := noAuth.tpmSource(IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		_, _, err := s0.Codes(context.Background(), d, time.Now())
		if isNiaj := strings.HasSuffix(d.SerialNumber, "/niaj"); isNiaj != errors.Is(err, tpmtoken.ErrAuth) || (isNiaj && !strings.Contains(err.Error(), "--tpm-key-auth")) {
			t.Errorf("%s without --tpm-key-auth: %v", d.SerialNumber, err)
		}
	}
	s0.Close()
	src, err := to.tpmSource(IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var _ executor.CodeSource = src
	clock := &executor.Clock{}
	cfg := sim.Config(t)
	cfg.APIOptions = append(cfg.APIOptions, clock.AddMiddleware)
	client := iam.NewFromConfig(cfg)
	if _, err := client.ListVirtualMFADevices(context.Background(), &iam.ListVirtualMFADevicesInput{MaxItems: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if d.Token == nil || d.Token.Kind != "tpm" || d.AccountID != "123456789012" {
			t.Errorf("device %+v", d)
		}
		c1, c2, err := src.Codes(context.Background(), d, clock.Now())
		if err != nil {
			t.Fatalf("%s: %v", d.SerialNumber, err)
		}
		if _, err := client.ResyncMFADevice(context.Background(), &iam.ResyncMFADeviceInput{UserName: aws.String(d.UserName),
			SerialNumber: aws.String(d.SerialNumber), AuthenticationCode1: aws.String(c1), AuthenticationCode2: aws.String(c2)}); err != nil {
			t.Errorf("resync %s: %v", d.SerialNumber, err)
		}
		if ds, _ := sim.Server.Device(d.SerialNumber); ds.DriftSteps != 0 {
			t.Errorf("%s: drift %d after the resync, want 0", d.SerialNumber, ds.DriftSteps)
		}
	}

	// list shows the devices and nothing secret.
	var list bytes.Buffer
	for _, format := range []string{"table", "json", "text"} {
		if err := runTokensListTPM(context.Background(), IO{Out: &list, ErrOut: &errOut}, store, format); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"arn:aws:iam::123456789012:mfa/alice", "carol", `"KeyAuth": true`} {
		if !strings.Contains(list.String(), want) {
			t.Errorf("list output lacks %q:\n%s", want, list.String())
		}
	}
	e, _ := tpmtoken.OpenStore(store, false)
	alice, _ := e.Get("arn:aws:iam::123456789012:mfa/alice")
	if bytes.Contains(list.Bytes(), []byte(base64.StdEncoding.EncodeToString(alice.Key.Private))) {
		t.Error("list shows the key blob")
	}
	if err := runTokensListTPM(context.Background(), IO{Out: &list, ErrOut: &errOut}, store, "yaml"); err == nil {
		t.Error("an unknown output format was accepted")
	}

	all := append(append(out.Bytes(), errOut.Bytes()...), list.Bytes()...)
	for serial, seed := range seeds {
		assertNoSecret(t, "output", all, seed)
		assertNoSecret(t, "store", storeBytes(t, store), seed)
		_ = serial
	}

	// delete-tpm removes the local key only.
	if err := runTokensDeleteTPM(context.Background(), IO{Out: &out, ErrOut: &errOut}, &tokensDeleteTPMOptions{Store: store, Serial: "arn:aws:iam::123456789012:mfa/carol"}); err != nil {
		t.Fatal(err)
	}
	if devs, _ := tpmtoken.Devices(store); len(devs) != 2 {
		t.Errorf("%d devices after delete-tpm", len(devs))
	}
}

func TestTokensImportTPMBadInput(t *testing.T) {
	store := filepath.Join(t.TempDir(), "s")
	secretish := "JBSWY3DPEHPK3PXP!!"
	f := filepath.Join(t.TempDir(), "seed")
	os.WriteFile(f, []byte(secretish), 0o600)
	for _, c := range []struct {
		o    tokensImportTPMOptions
		code int
	}{
		{tokensImportTPMOptions{Serial: "GAHT12345678", UserName: "a", SeedFile: f}, ExitUsage},
		{tokensImportTPMOptions{Serial: "arn:aws:iam::123456789012:mfa/a", UserName: "a b", SeedFile: f}, ExitUsage},
		{tokensImportTPMOptions{Serial: "arn:aws:iam::123456789012:mfa/a", UserName: "a", SeedFile: f + ".missing"}, ExitUsage},
		{tokensImportTPMOptions{Serial: "arn:aws:iam::123456789012:mfa/a", UserName: "a", SeedFile: f}, ExitUsage},
	} {
		missing := strings.HasSuffix(c.o.SeedFile, ".missing")
		c.o.TPM.Store = store
		err := runTokensImportTPM(context.Background(), IO{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}, &c.o)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != c.code {
			t.Errorf("%+v: %v, want exit %d", c.o, err, c.code)
		}
		if err != nil && strings.Contains(strings.ToUpper(err.Error()), "JBSWY3DP") {
			t.Errorf("the error quotes the seed: %v", err)
		}
		if missing && (err == nil || !strings.Contains(err.Error(), c.o.SeedFile)) {
			t.Errorf("a missing seed file: %v, want an error naming %s", err, c.o.SeedFile)
		}
	}
}
