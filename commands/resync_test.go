package commands

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenbatch/tokenbatch/internal/testenv"
)

const (
	testSerial = "arn:aws:iam::123456789012:mfa/alice"
)

func TestResyncValidate(t *testing.T) {
	ok := resyncInput{UserName: "alice", SerialNumber: testSerial, AuthenticationCode1: "123456", AuthenticationCode2: "654321"}
	all := map[string]bool{"UserName": true, "SerialNumber": true, "AuthenticationCode1": true, "AuthenticationCode2": true}
	with := func(f func(*resyncInput)) resyncInput { in := ok; f(&in); return in }
	cases := []struct {
		name string
		in   resyncInput
		want []string
	}{
		{"valid", ok, nil},
		{"hardware serial", with(func(in *resyncInput) { in.SerialNumber = "GAHT12345678" }), nil},
		{"user name with every allowed character", with(func(in *resyncInput) { in.UserName = "a_b+c=d,e.f@g-h" }), nil},
		{"five digits", with(func(in *resyncInput) { in.AuthenticationCode1 = "12345" }),
			[]string{"Invalid length for parameter AuthenticationCode1, value: 5, valid min length: 6"}},
		{"seven digits", with(func(in *resyncInput) { in.AuthenticationCode2 = "1234567" }),
			[]string{"Invalid length for parameter AuthenticationCode2, value: 7, valid max length: 6"}},
		{"letters", with(func(in *resyncInput) { in.AuthenticationCode1 = "abcdef" }),
			[]string{"Invalid value for parameter AuthenticationCode1: must be six digits"}},
		{"empty user", with(func(in *resyncInput) { in.UserName = "" }),
			[]string{"Invalid length for parameter UserName, value: 0, valid min length: 1"}},
		{"user too long", with(func(in *resyncInput) { in.UserName = strings.Repeat("u", 129) }),
			[]string{"Invalid length for parameter UserName, value: 129, valid max length: 128"}},
		{"user with a space", with(func(in *resyncInput) { in.UserName = "a b" }),
			[]string{`Invalid value for parameter UserName, value: a b, valid pattern: [\w+=,.@-]+`}},
		{"short serial", with(func(in *resyncInput) { in.SerialNumber = "GAHT1234" }),
			[]string{"Invalid length for parameter SerialNumber, value: 8, valid min length: 9"}},
		{"serial too long", with(func(in *resyncInput) { in.SerialNumber = strings.Repeat("s", 257) }),
			[]string{"Invalid length for parameter SerialNumber, value: 257, valid max length: 256"}},
		{"serial with a space", with(func(in *resyncInput) { in.SerialNumber = "GAHT 99999999" }),
			[]string{`Invalid value for parameter SerialNumber, value: GAHT 99999999, valid pattern: [\w+=/:,.@-]+`}},
		{"several", with(func(in *resyncInput) { in.UserName = ""; in.AuthenticationCode2 = "1" }),
			[]string{"Invalid length for parameter UserName, value: 0, valid min length: 1",
				"Invalid length for parameter AuthenticationCode2, value: 1, valid min length: 6"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.validate(false, all)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, m := range got {
				for _, code := range []string{tc.in.AuthenticationCode1, tc.in.AuthenticationCode2} {
					if len(code) >= 6 && strings.Contains(m, code) {
						t.Errorf("message echoes a code: %s", m)
					}
				}
			}
		})
	}
}

func TestResyncMergeInputJSON(t *testing.T) {
	file := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(file, []byte(`{"UserName":"fromfile","SerialNumber":"`+testSerial+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		json    string
		flags   resyncInput
		set     []string
		want    resyncInput
		wantErr string
	}{
		{name: "all from JSON",
			json: `{"UserName":"alice","SerialNumber":"` + testSerial + `","AuthenticationCode1":"123456","AuthenticationCode2":"654321"}`,
			want: resyncInput{"alice", testSerial, "123456", "654321"}},
		{name: "flags override", json: `{"UserName":"alice","SerialNumber":"` + testSerial + `","AuthenticationCode1":"000000","AuthenticationCode2":"000000"}`,
			flags: resyncInput{AuthenticationCode1: "123456"}, set: []string{"AuthenticationCode1"},
			want: resyncInput{"alice", testSerial, "123456", "000000"}},
		{name: "file", json: "file://" + file, want: resyncInput{UserName: "fromfile", SerialNumber: testSerial}},
		{name: "missing file", json: "file:///nonexistent/in.json",
			wantErr: "Error parsing parameter '--cli-input-json': Unable to load paramfile file:///nonexistent/in.json: [Errno 2] No such file or directory: '/nonexistent/in.json'"},
		{name: "invalid JSON", json: `{"UserName":`, wantErr: "Error parsing parameter 'cli-input-json': Invalid JSON received."},
		{name: "not an object", json: `[1]`, wantErr: "Error parsing parameter '--cli-input-json': Invalid type: expecting map, received <class 'list'>"},
		{name: "unknown member", json: `{"UserName":"alice","Foo":1}`,
			wantErr: "Parameter validation failed:\nMissing required parameter in input: \"SerialNumber\"\nMissing required parameter in input: \"AuthenticationCode1\"\n" +
				"Missing required parameter in input: \"AuthenticationCode2\"\nUnknown parameter in input: \"Foo\", must be one of: UserName, SerialNumber, AuthenticationCode1, AuthenticationCode2"},
		{name: "wrong type, code not echoed", json: `{"UserName":"alice","SerialNumber":"` + testSerial + `","AuthenticationCode1":123456,"AuthenticationCode2":"654321"}`,
			wantErr: "Parameter validation failed:\nInvalid type for parameter AuthenticationCode1, value: <redacted>, type: <class 'int'>, valid types: <class 'str'>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := &resyncOptions{Input: tc.flags, InputSet: map[string]bool{}, CLIInputJSON: tc.json}
			for _, s := range tc.set {
				o.InputSet[s] = true
			}
			err := o.mergeInputJSON()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got error %v\nwant %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Input != tc.want {
				t.Errorf("got %+v, want %+v", o.Input, tc.want)
			}
		})
	}
}

// TestResyncInProcess runs the command through Main for what needs no service.
func TestResyncInProcess(t *testing.T) {
	testenv.AWSEnv(t, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	valid := []string{"resync-mfa-device", "--user-name", "alice", "--serial-number", testSerial,
		"--authentication-code1", "123456", "--authentication-code2", "654321"}
	cases := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string // substrings; stdout "-" means empty
	}{
		{"skeleton", []string{"resync-mfa-device", "--generate-cli-skeleton"}, 0,
			"{\n    \"UserName\": \"\",\n    \"SerialNumber\": \"\",\n    \"AuthenticationCode1\": \"\",\n    \"AuthenticationCode2\": \"\"\n}\n", ""},
		{"skeleton with =", []string{"resync-mfa-device", "--generate-cli-skeleton=yaml-input"}, 0,
			"AuthenticationCode2: '' # [REQUIRED] A subsequent authentication code emitted by the device.\n", ""},
		{"skeleton output", append(valid, "--generate-cli-skeleton", "output", "--endpoint-url", "http://127.0.0.1:9", "--region", ""), 0, "-", ""},
		{"bad skeleton", []string{"resync-mfa-device", "--generate-cli-skeleton=json"}, 252, "-", "argument --generate-cli-skeleton: Invalid choice"},
		{"unknown option", append(valid, "extra"), 252, "-", "Unknown options: extra"},
		{"unknown flag", append(valid, "--bogus"), 252, "-", "unknown flag: --bogus"},
		{"bad endpoint", append(valid, "--endpoint-url", "nothttp"), 252, "-", `Bad value for --endpoint-url "nothttp": scheme is missing.`},
		{"bad color", append(valid, "--color", "blue"), 252, "-", "argument --color: Invalid choice"},
		{"version", []string{"resync-mfa-device", "--version"}, 0, "tokenbatch/", ""},
		{"missing everything", []string{"resync-mfa-device"}, 252, "-",
			"the following arguments are required: --user-name, --serial-number, --authentication-code1, --authentication-code2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(tc.args, strings.NewReader(""), &out, &errOut)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errOut.String())
			}
			if tc.stdout == "-" && out.Len() > 0 || tc.stdout != "-" && !strings.Contains(out.String(), tc.stdout) {
				t.Errorf("stdout %q, want %q", out.String(), tc.stdout)
			}
			if !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("stderr %q, want %q", errOut.String(), tc.stderr)
			}
		})
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, tc := range []struct{ shell, want string }{
		{"bash", "__start_tokenbatch"},
		{"zsh", "#compdef tokenbatch"},
		{"fish", "complete -c tokenbatch"},
		{"powershell", "Register-ArgumentCompleter"},
	} {
		var out, errOut bytes.Buffer
		if code := Main([]string{"completion", tc.shell}, strings.NewReader(""), &out, &errOut); code != 0 {
			t.Fatalf("completion %s: exit %d: %s", tc.shell, code, errOut.String())
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("completion %s lacks %q", tc.shell, tc.want)
		}
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"completion", "tcsh"}, strings.NewReader(""), &out, &errOut); code != ExitUsage {
		t.Errorf("completion tcsh: exit %d, want %d", code, ExitUsage)
	}
	// Cobra's hidden __complete command is what the scripts call: the values of
	// --output come from the AWS CLI's list.
	out.Reset()
	if code := Main([]string{"__complete", "resync-mfa-device", "--output", ""}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("__complete: exit %d: %s", code, errOut.String())
	}
	for _, v := range []string{"json", "text", "table", "yaml"} {
		if !strings.Contains(out.String(), v+"\n") {
			t.Errorf("completion of --output lacks %s:\n%s", v, out.String())
		}
	}
}

func TestManPages(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir := filepath.Join(t.TempDir(), "man1")
	var out, errOut bytes.Buffer
	if code := Main([]string{"man", "--dir", dir}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	page, err := os.ReadFile(filepath.Join(dir, "tokenbatch-resync-mfa-device.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".TH \"TOKENBATCH\" \"1\" \"Nov 2023\"", "authentication-code1", "cli-input-json", "no-verify-ssl"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("man page lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenbatch.1")); err != nil {
		t.Error(err)
	}
	if code := Main([]string{"man"}, strings.NewReader(""), &out, &errOut); code != ExitUsage {
		t.Errorf("man without --dir: exit %d, want %d", code, ExitUsage)
	}
}
