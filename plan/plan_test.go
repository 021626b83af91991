package plan

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
	"github.com/tokenbatch/tokenbatch/reader"
)

const (
	header  = "user_name,serial_number,authentication_code1,authentication_code2\n"
	account = "123456789012"
	arnPfx  = "arn:aws:iam::" + account + ":mfa/"
)

func planCSV(t *testing.T, csv string, opts Options) *Plan {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = benchNow
	}
	p, err := FromReader(context.Background(), "m.csv", strings.NewReader(csv), opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func problemCodes(p *Plan) []string {
	var out []string
	for _, q := range p.Problems {
		out = append(out, fmt.Sprintf("%d:%s:%s", q.Line, q.Column, q.Code))
	}
	return out
}

// codeLike matches anything shaped like an authentication code.
var codeLike = regexp.MustCompile(`\d{4,7}`)

func TestValidation(t *testing.T) {
	online := Options{AccountID: account, Partition: "aws", MaxCodeAge: 5 * time.Minute}
	offline := Options{MaxCodeAge: 5 * time.Minute}
	for _, tc := range []struct {
		name  string
		csv   string
		opts  Options
		want  []string // line:column:code
		valid int
	}{
		{"valid", header + "alice," + arnPfx + "alice,012345,123456\nalice," + arnPfx + "alice2,111111,222222\nbob,GAHT12345678,333333,444444\n", online, nil, 3},
		{"lost leading zero", header + "alice," + arnPfx + "alice,12345,123456\n", online, []string{"2:authentication_code1:lost_leading_zero"}, 0},
		{"too many digits", header + "alice," + arnPfx + "alice,1234567,123456\n", online, []string{"2:authentication_code1:too_many_digits"}, 0},
		{"formula", header + "alice," + arnPfx + "alice,\"=\"\"012345\"\"\",123456\n", online, []string{"2:authentication_code1:spreadsheet_formula"}, 0},
		{"scientific", header + "alice," + arnPfx + "alice,1.23E+05,123456\n", online, []string{"2:authentication_code1:scientific_notation"}, 0},
		{"decimal", header + "alice," + arnPfx + "alice,123456,\"123456,0\"\n", online, []string{"2:authentication_code2:decimal_number"}, 0},
		{"letters", header + "alice," + arnPfx + "alice,12345a,123456\n", online, []string{"2:authentication_code1:not_digits"}, 0},
		{"unicode digits", header + "alice," + arnPfx + "alice,１２３４５６,123456\n", online, []string{"2:authentication_code1:not_digits"}, 0},
		{"same codes", header + "alice," + arnPfx + "alice,123456,123456\n", online, []string{"2:authentication_code2:same_codes"}, 0},
		{"duplicate serial thrice", header + "a," + arnPfx + "x1,111111,222222\nb," + arnPfx + "X1,111111,222222\nc,GAHT12345678,111111,222222\nd," + arnPfx + "x1,111111,222222\n", online,
			[]string{"2:serial_number:duplicate_serial", "3:serial_number:duplicate_serial", "5:serial_number:duplicate_serial"}, 1},
		{"user pattern", header + "al/ice," + arnPfx + "alice,111111,222222\n", online, []string{"2:user_name:invalid_user"}, 0},
		{"serial too short", header + "alice,GAHT1234,111111,222222\n", online, []string{"2:serial_number:invalid_serial"}, 0},
		{"serial pattern", header + "alice,GAHT 12345678,111111,222222\n", online, []string{"2:serial_number:invalid_serial"}, 0},
		{"other account", header + "alice,arn:aws:iam::210987654321:mfa/alice,111111,222222\n", online, []string{"2:serial_number:other_account"}, 0},
		{"other account by column", "user_name,serial_number,authentication_code1,authentication_code2,account_id\nalice,GAHT12345678,111111,222222,210987654321\n", online,
			[]string{"2:account_id:other_account"}, 0},
		{"other partition", header + "alice,arn:aws-us-gov:iam::" + account + ":mfa/alice,111111,222222\n", online, []string{"2:serial_number:other_partition"}, 0},
		{"offline mixed", header + "alice," + arnPfx + "alice,111111,222222\nbob,arn:aws:iam::210987654321:mfa/bob,111111,222222\n", offline,
			[]string{"3:serial_number:mixed_accounts"}, 1},
		{"stale and future", "user_name,serial_number,authentication_code1,authentication_code2,collected_at\n" +
			"alice," + arnPfx + "alice,111111,222222,2026-03-01T11:54:59Z\n" +
			"bob," + arnPfx + "bob,111111,222222,2026-03-01T11:55:01Z\n" +
			"carol," + arnPfx + "carol,111111,222222,2026-03-01T12:10:00Z\n", online,
			[]string{"2:collected_at:stale", "4:collected_at:collected_in_future"}, 2},
		{"age check off", "user_name,serial_number,authentication_code1,authentication_code2,collected_at\nalice," + arnPfx + "alice,111111,222222,2020-01-01T00:00:00Z\n",
			Options{AccountID: account}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planCSV(t, tc.csv, tc.opts)
			if got := problemCodes(p); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("problems %q, want %q", got, tc.want)
			}
			if p.Len() != tc.valid {
				t.Errorf("%d valid devices, want %d", p.Len(), tc.valid)
			}
			hasErr := false
			for _, q := range p.Problems {
				hasErr = hasErr || q.Severity == Error
				if q.File != "m.csv" || q.Message == "" || q.Message != strings.ToLower(q.Message[:1])+q.Message[1:] {
					t.Errorf("problem %+v", q)
				}
				if strings.Contains(q.Column, "code") && codeLike.MatchString(q.Message) {
					t.Errorf("message about a code holds digits: %q", q.Message)
				}
			}
			if p.HasErrors() != hasErr {
				t.Errorf("HasErrors %v, problems %v", p.HasErrors(), p.Problems)
			}
			for i := range p.Len() {
				if d := p.Device(i); d.Code1 == "" || len(d.Code1) != 6 || len(d.Code2) != 6 {
					t.Errorf("valid device %+v without codes", d)
				}
			}
			for _, d := range p.Invalid() {
				if d.Code1 != "" || d.Code2 != "" {
					t.Errorf("invalid device %+v keeps codes", d)
				}
			}
		})
	}
}

func TestProblemCap(t *testing.T) {
	var b strings.Builder
	b.WriteString(header)
	n := MaxProblems + 5
	for i := range n {
		fmt.Fprintf(&b, "u%d,GAHT%08d,12345,123456\n", i, i)
	}
	b.WriteString("ok,GAHT99999999,123456,234567\n")
	p := planCSV(t, b.String(), Options{})
	if len(p.Problems) != MaxProblems || p.OmittedProblems["lost_leading_zero"] != 5 || p.ErrorRows() != n ||
		len(p.Invalid()) != n || p.Len() != 1 || p.Problems[MaxProblems-1].Line != MaxProblems+1 {
		t.Errorf("%d problems, omitted %v, %d error rows, %d invalid, %d valid", len(p.Problems), p.OmittedProblems,
			p.ErrorRows(), len(p.Invalid()), p.Len())
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	q, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if q.ErrorRows() != n || q.OmittedProblems["lost_leading_zero"] != 5 || len(q.Invalid()) != n {
		t.Errorf("loaded: %d error rows, omitted %v, %d invalid", q.ErrorRows(), q.OmittedProblems, len(q.Invalid()))
	}
}

func TestDeviceFields(t *testing.T) {
	csv := "user_name,serial_number,authentication_code1,authentication_code2,account_id,collected_at,ticket\n" +
		"alice," + arnPfx + "path/alice,012345,000001,,2026-03-01T11:59:00.5+01:00,CHG-9\n" +
		"bob,GAHT12345678,999999,000000," + account + ",,\n"
	p := planCSV(t, csv, Options{AccountID: account, Partition: "aws", MaxCodeAge: 2 * time.Hour})
	want := []Device{
		{UserName: "alice", SerialNumber: arnPfx + "path/alice", AccountID: account, Code1: "012345", Code2: "000001",
			CollectedAt: time.Date(2026, 3, 1, 10, 59, 0, 5e8, time.UTC), Line: 2, Ticket: "CHG-9"},
		{UserName: "bob", SerialNumber: "GAHT12345678", AccountID: account, Code1: "999999", Code2: "000000", Line: 3},
	}
	if p.Len() != len(want) {
		t.Fatalf("%d devices, problems %v", p.Len(), p.Problems)
	}
	for i, w := range want {
		if d := p.Device(i); d != w {
			t.Errorf("device %d:\n got %+v\nwant %+v", i, d, w)
		}
	}
}

func TestOrder(t *testing.T) {
	csv := "user_name,serial_number,authentication_code1,authentication_code2,collected_at\n" +
		"n1," + arnPfx + "n1,111111,222222,\n" +
		"late," + arnPfx + "late,111111,222222,2026-03-01T11:59:00Z\n" +
		"bad," + arnPfx + "bad,11111,222222,2026-03-01T11:56:00Z\n" +
		"early," + arnPfx + "early,111111,222222,2026-03-01T11:57:00Z\n" +
		"n2," + arnPfx + "n2,111111,222222,\n" +
		"late2," + arnPfx + "late2,111111,222222,2026-03-01T11:59:00Z\n"
	p := planCSV(t, csv, Options{MaxCodeAge: 5 * time.Minute})
	var got []string
	for i := range p.Len() {
		got = append(got, p.Device(i).UserName)
	}
	if want := "early late late2 n1 n2"; strings.Join(got, " ") != want {
		t.Errorf("order %q, want %q", got, want)
	}
	if inv := p.Invalid(); len(inv) != 1 || inv[0].UserName != "bad" || inv[0].Line != 4 {
		t.Errorf("invalid %+v", inv)
	}
}

func TestExpired(t *testing.T) {
	csv := "user_name,serial_number,authentication_code1,authentication_code2,collected_at\n" +
		"alice," + arnPfx + "alice,111111,222222,2026-03-01T11:58:00Z\n"
	p := planCSV(t, csv, Options{MaxCodeAge: 5 * time.Minute})
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{benchNow, false},
		{benchNow.Add(3 * time.Minute), false},
		{benchNow.Add(3*time.Minute + time.Second), true}, // codes were 2 minutes old at planning
	} {
		if got := p.Expired(tc.at); got != tc.want {
			t.Errorf("Expired(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	noTime := planCSV(t, header+"alice,"+arnPfx+"alice,111111,222222\n", Options{MaxCodeAge: 5 * time.Minute})
	if noTime.Expired(benchNow.Add(5*time.Minute)) || !noTime.Expired(benchNow.Add(5*time.Minute+time.Second)) {
		t.Error("a plan without collected_at expires MaxCodeAge after its creation")
	}
	tokens, err := FromDevices(context.Background(), []Device{{UserName: "alice", SerialNumber: arnPfx + "alice",
		Token: &Token{Kind: "yubikey", Serial: "12345678", Credential: "Amazon Web Services:alice@" + account}}}, Options{MaxCodeAge: time.Minute, Now: benchNow})
	if err != nil {
		t.Fatal(err)
	}
	if tokens.Expired(benchNow.Add(time.Hour)) {
		t.Error("a plan of token devices, which compute codes at send time, expired")
	}
}

func TestFromDevices(t *testing.T) {
	tok := &Token{Kind: "tpm", Serial: "tpm", Credential: "alice"}
	p, err := FromDevices(context.Background(), []Device{
		{UserName: "alice", SerialNumber: arnPfx + "alice", Token: tok},
		{UserName: "bob", SerialNumber: arnPfx + "alice", Token: tok},
		{UserName: "carol", SerialNumber: "arn:aws:iam::210987654321:mfa/carol", Token: tok},
		{UserName: "dave", SerialNumber: arnPfx + "dave", Token: tok},
	}, Options{AccountID: account, Partition: "aws", Now: benchNow})
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "tpm" || p.Len() != 1 || p.Device(0).UserName != "dave" || p.Device(0).Token != tok || p.Device(0).Code1 != "" {
		t.Errorf("plan source %q, %d devices: %+v", p.Source, p.Len(), p.Device(0))
	}
	if got := strings.Join(problemCodes(p), " "); got != "0:serial_number:other_account 0:serial_number:duplicate_serial 0:serial_number:duplicate_serial" {
		t.Errorf("problems %s", got)
	}
	for _, q := range p.Problems {
		if q.File != "" || q.UserName == "" {
			t.Errorf("token problem %+v", q)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	csv := "user_name,serial_number,authentication_code1,authentication_code2,collected_at,ticket\n" +
		"late," + arnPfx + "late,012345,000001,2026-03-01T11:59:00Z,CHG-1\n" +
		"early,GAHT12345678,111111,222222,2026-03-01T11:58:00Z,\n" +
		"bad," + arnPfx + "bad,1234,222222,,\n"
	p := planCSV(t, csv, Options{AccountID: account, Partition: "aws", MaxCodeAge: 5 * time.Minute})
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	q, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !q.CreatedAt.Equal(p.CreatedAt) || q.AccountID != account || q.Partition != "aws" || q.MaxCodeAge != p.MaxCodeAge ||
		q.ManifestDigest != p.ManifestDigest || len(q.ManifestDigest) != 64 || q.Source != "m.csv" {
		t.Errorf("header: %+v", q)
	}
	if q.Len() != p.Len() || !q.HasErrors() || q.ErrorRows() != 1 || len(q.Problems) != len(p.Problems) {
		t.Errorf("loaded %d devices, errors %v (%d), problems %v", q.Len(), q.HasErrors(), q.ErrorRows(), q.Problems)
	}
	for i := range p.Len() {
		if a, b := p.Device(i), q.Device(i); a != b {
			t.Errorf("device %d: saved %+v, loaded %+v", i, a, b)
		}
	}
	if inv := q.Invalid(); len(inv) != 1 || inv[0].UserName != "bad" || inv[0].Code1 != "" {
		t.Errorf("invalid %+v", inv)
	}
	if q.Expired(benchNow) || !q.Expired(benchNow.Add(3*time.Minute+time.Second)) {
		t.Error("loaded plan expires at the wrong time")
	}

	for name, content := range map[string]string{
		"not json":   "hello",
		"old format": `{"format":"tokenbatch-plan/0","created_at":"2026-03-01T12:00:00Z","max_code_age":"5m0s","devices":[]}`,
		"bad code":   `{"format":"tokenbatch-plan/1","created_at":"2026-03-01T12:00:00Z","max_code_age":"5m0s","devices":[{"user_name":"a","serial_number":"GAHT12345678","authentication_code1":"12345","authentication_code2":"123456"}]}`,
		"no devices": `{"format":"tokenbatch-plan/1","created_at":"2026-03-01T12:00:00Z","max_code_age":"5m0s"}`,
	} {
		bad := filepath.Join(dir, "bad.json")
		os.WriteFile(bad, []byte(content), 0o600)
		_, err := Load(bad)
		if !errors.Is(err, ErrPlanFile) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: err %v, want ErrPlanFile naming the file", name, err)
		}
		if codeLike.MatchString(strings.TrimPrefix(err.Error(), bad)) {
			t.Errorf("%s: error holds a code: %v", name, err)
		}
	}
}

func TestStructuralErrorIsReaderError(t *testing.T) {
	_, err := FromReader(context.Background(), "m.csv", strings.NewReader("user_name\nalice\n"), Options{})
	var re *reader.Error
	if !errors.As(err, &re) || re.Line != 1 {
		t.Errorf("err %v, want a *reader.Error on line 1", err)
	}
	if _, err := FromManifest(context.Background(), filepath.Join(t.TempDir(), "none.csv"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// fakeIAM serves listings from memory in pages of two, counting calls.
type fakeIAM struct {
	users   []string
	virtual map[string]string   // serial -> user ("" unassigned)
	byUser  map[string][]string // user -> all serials
	calls   map[string]int
	fail    error
}

func page[T any](items []T, marker *string) ([]T, *string, bool) {
	start := 0
	if marker != nil {
		fmt.Sscan(*marker, &start)
	}
	end := min(start+2, len(items))
	if end < len(items) {
		return items[start:end], aws.String(fmt.Sprint(end)), true
	}
	return items[start:end], nil, false
}

func (f *fakeIAM) ListUsers(_ context.Context, in *iam.ListUsersInput, _ ...func(*iam.Options)) (*iam.ListUsersOutput, error) {
	f.calls["ListUsers"]++
	if f.fail != nil {
		return nil, f.fail
	}
	var all []types.User
	for _, u := range f.users {
		all = append(all, types.User{UserName: aws.String(u)})
	}
	items, next, more := page(all, in.Marker)
	return &iam.ListUsersOutput{Users: items, Marker: next, IsTruncated: more}, nil
}

func (f *fakeIAM) ListVirtualMFADevices(_ context.Context, in *iam.ListVirtualMFADevicesInput, _ ...func(*iam.Options)) (*iam.ListVirtualMFADevicesOutput, error) {
	f.calls["ListVirtualMFADevices"]++
	var all []types.VirtualMFADevice
	for _, s := range slices.Sorted(maps.Keys(f.virtual)) { // pages must agree on the order
		u := f.virtual[s]
		d := types.VirtualMFADevice{SerialNumber: aws.String(s)}
		if u != "" {
			d.User = &types.User{UserName: aws.String(u)}
		}
		all = append(all, d)
	}
	items, next, more := page(all, in.Marker)
	return &iam.ListVirtualMFADevicesOutput{VirtualMFADevices: items, Marker: next, IsTruncated: more}, nil
}

func (f *fakeIAM) ListMFADevices(_ context.Context, in *iam.ListMFADevicesInput, _ ...func(*iam.Options)) (*iam.ListMFADevicesOutput, error) {
	f.calls["ListMFADevices"]++
	var all []types.MFADevice
	for _, s := range f.byUser[aws.ToString(in.UserName)] {
		all = append(all, types.MFADevice{SerialNumber: aws.String(s), UserName: in.UserName})
	}
	items, next, more := page(all, in.Marker)
	return &iam.ListMFADevicesOutput{MFADevices: items, Marker: next, IsTruncated: more}, nil
}

func TestCheckIAM(t *testing.T) {
	f := &fakeIAM{
		users:   []string{"alice", "bob", "carol", "Dave", "erin"},
		virtual: map[string]string{arnPfx + "alice": "alice", arnPfx + "bob": "bob", arnPfx + "spare": "", arnPfx + "carol": "carol", arnPfx + "dave": "Dave"},
		byUser:  map[string][]string{"carol": {arnPfx + "carol", "GAHT00000001"}, "erin": {}},
		calls:   map[string]int{},
	}
	var b strings.Builder
	b.WriteString(header)
	rows := []string{
		"alice," + arnPfx + "alice",   // 2 ok
		"bob," + arnPfx + "carol",     // 3 another user's
		"nobody," + arnPfx + "nobody", // 4 unknown user
		"alice," + arnPfx + "spare",   // 5 unassigned
		"carol,GAHT00000001",          // 6 ok: hardware, listed for carol
		"carol,GAHT00000002",          // 7 unknown device
		"dave," + arnPfx + "dave",     // 8 ok: user names are case-insensitive
		"erin,GAHT00000003",           // 9 unknown device
		"bob," + arnPfx + "bob",       // 10 ok
	}
	for i, r := range rows {
		fmt.Fprintf(&b, "%s,%06d,%06d\n", r, i+100000, i+200000)
	}
	p := planCSV(t, b.String(), Options{AccountID: account, Partition: "aws", CheckIAM: true, IAM: f})
	want := "3:serial_number:other_users_device 4:user_name:unknown_user 5:serial_number:unassigned_device 7:serial_number:unknown_device 9:serial_number:unknown_device"
	if got := strings.Join(problemCodes(p), " "); got != want {
		t.Errorf("problems\n got %s\nwant %s", got, want)
	}
	if p.Len() != 4 {
		t.Errorf("%d valid devices, want 4", p.Len())
	}
	// 5 users and 5 virtual devices in pages of 2: 3 calls each; ListMFADevices once for
	// carol and once for erin (users with a serial that is not a virtual device).
	if f.calls["ListUsers"] != 3 || f.calls["ListVirtualMFADevices"] != 3 || f.calls["ListMFADevices"] != 2 {
		t.Errorf("calls %v", f.calls)
	}

	f.fail = errors.New("access denied")
	_, err := FromReader(context.Background(), "m.csv", strings.NewReader(b.String()), Options{CheckIAM: true, IAM: f})
	if !errors.Is(err, ErrIAMCheck) || !errors.Is(err, f.fail) {
		t.Errorf("err %v, want ErrIAMCheck wrapping the listing's error", err)
	}
}

// TestCheckIAMSimulator runs the IAM checks against the simulator's sample fleet.
func TestCheckIAMSimulator(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	testenv.AWSEnv(t, sim.AccessKeyID, sim.SecretAccessKey)
	manifest := sim.Manifest(t, sim.Now())
	client := iam.NewFromConfig(sim.Config(t))
	p, err := FromReader(context.Background(), "sim.csv", strings.NewReader(string(manifest)),
		Options{AccountID: sim.Fleet.AccountID, Partition: "aws", CheckIAM: true, IAM: client, MaxCodeAge: DefaultMaxCodeAge})
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Count(strings.TrimSpace(string(manifest)), "\n")
	if p.HasErrors() || p.Len() != rows || rows < 3 {
		t.Errorf("%d of %d rows valid; problems %v", p.Len(), rows, p.Problems)
	}
	lines := strings.Split(strings.TrimSpace(string(manifest)), "\n")
	first, second := strings.Split(lines[1], ","), strings.Split(lines[2], ",")
	broken := lines[0] + "\n" + first[0] + "," + second[1] + ",123456,234567\nghost-user," + arnPfx + "ghost,123456,234567\n"
	p, err = FromReader(context.Background(), "sim.csv", strings.NewReader(broken),
		Options{AccountID: sim.Fleet.AccountID, CheckIAM: true, IAM: client})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(problemCodes(p), " "); got != "2:serial_number:other_users_device 3:user_name:unknown_user" {
		t.Errorf("problems %s", got)
	}
}

// TestPlanSmallBench keeps the benchmark's generator and child mode working in the
// normal test run, on a small manifest.
func TestPlanSmallBench(t *testing.T) {
	res := testing.Benchmark(func(b *testing.B) { benchPlanN(b, 2000) })
	if res.N == 0 {
		t.Fatal("benchmark did not run")
	}
	if res.Extra["peak-RSS-MiB"] <= 0 || res.Extra["s/plan"] <= 0 {
		t.Errorf("metrics %v", res.Extra)
	}
}
