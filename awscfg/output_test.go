package awscfg

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"go.yaml.in/yaml/v3"

	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
	"github.com/tokenbatch/tokenbatch/internal/testenv"
)

// TestPrintMatchesAWSCLIv2 prints real responses of the simulator with every --output
// and a few --query expressions, and compares with what the AWS CLI v2 prints for the
// same call: byte for byte for text and table, as parsed documents for json and yaml
// (tokenbatch sorts members alphabetically where the CLI keeps the service model's
// order, a documented difference).
func TestPrintMatchesAWSCLIv2(t *testing.T) {
	awsBin := testenv.Tool(t, testenv.AWSCLIv2)
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	client := iam.NewFromConfig(sim.Config(t))
	ctx := context.Background()
	mfa, err := client.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String("judy")})
	if err != nil {
		t.Fatal(err)
	}
	virtual, err := client.ListVirtualMFADevices(ctx, &iam.ListVirtualMFADevicesInput{MaxItems: aws.Int32(4)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"config", "credentials"} {
		if err := os.WriteFile(dir+"/"+f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8"},
		testenv.Env(dir, sim.AccessKeyID, sim.SecretAccessKey)...)

	type call struct {
		op   string
		args []string
		out  any
	}
	listMFA := call{"ListMFADevices", []string{"list-mfa-devices", "--user-name", "judy"}, mfa}
	listVirtual := call{"ListVirtualMFADevices", []string{"list-virtual-mfa-devices", "--max-items", "4"}, virtual}
	cases := []struct {
		name   string
		call   call
		output string
		query  string
		color  string
	}{
		{"json", listMFA, "json", "", ""},
		{"text", listMFA, "text", "", ""},
		{"table in color", listMFA, "table", "", "on"},
		{"yaml", listMFA, "yaml", "", ""},
		{"nested text", listVirtual, "text", "", ""},
		{"nested table", listVirtual, "table", "", "off"},
		{"query scalars text", listMFA, "text", "MFADevices[].SerialNumber", ""},
		{"query scalars table", listMFA, "table", "MFADevices[].SerialNumber", "off"},
		{"query hash table", listVirtual, "table", "VirtualMFADevices[?User].{S:SerialNumber,U:User.UserName}", "off"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"iam"}, tc.call.args...)
			args = append(args, "--no-paginate", "--endpoint-url", sim.URL, "--output", tc.output)
			if tc.query != "" {
				args = append(args, "--query", tc.query)
			}
			if tc.color != "" {
				args = append(args, "--color", tc.color)
			}
			cmd := exec.Command(awsBin, args...)
			cmd.Env = env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("aws %v: %v\n%s", args, err, stderr.String())
			}
			o := &OutputOptions{Output: tc.output, Query: tc.query, Color: tc.color}
			if err := o.Validate(""); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := o.Print(&got, tc.call.op, tc.call.out); err != nil {
				t.Fatal(err)
			}
			switch tc.output {
			case "json":
				var w, g any
				if err := json.Unmarshal(want, &w); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(got.Bytes(), &g); err != nil {
					t.Fatalf("tokenbatch's json does not parse: %v\n%s", err, got.String())
				}
				if !reflect.DeepEqual(w, g) {
					t.Errorf("json differs:\naws:\n%s\ntokenbatch:\n%s", want, got.String())
				}
				if strings.Count(string(want), "\n") != strings.Count(got.String(), "\n") {
					t.Errorf("json layout differs:\naws:\n%s\ntokenbatch:\n%s", want, got.String())
				}
			case "yaml", "yaml-stream":
				var w, g any
				if err := yaml.Unmarshal(want, &w); err != nil {
					t.Fatal(err)
				}
				if err := yaml.Unmarshal(got.Bytes(), &g); err != nil {
					t.Fatalf("tokenbatch's yaml does not parse: %v\n%s", err, got.String())
				}
				if !reflect.DeepEqual(w, g) {
					t.Errorf("yaml differs:\naws:\n%s\ntokenbatch:\n%s", want, got.String())
				}
			default:
				if got.String() != string(want) {
					t.Errorf("%s differs:\naws:\n%s\ntokenbatch:\n%s", tc.output, want, got.String())
				}
			}
		})
	}
}

// TestPrintEmptyResponse is what the AWS CLI v2 prints for an operation without output
// members (ResyncMFADevice): nothing, except that a query makes json print null and text
// None. (commands' side-by-side test checks this against the CLI.)
func TestPrintEmptyResponse(t *testing.T) {
	type empty struct{ ResultMetadata struct{ x int } }
	for _, tc := range []struct{ output, query, want string }{
		{"json", "", ""}, {"text", "", ""}, {"table", "", ""}, {"yaml", "", ""}, {"yaml-stream", "", ""},
		{"json", "Foo", "null\n"}, {"text", "Foo", "None\n"}, {"table", "Foo", ""}, {"yaml", "Foo", "null\n"},
	} {
		o := &OutputOptions{Output: tc.output, Query: tc.query, Color: "off"}
		var b bytes.Buffer
		if err := o.Print(&b, "ResyncMFADevice", &empty{}); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("--output %s --query %q: got %q, want %q", tc.output, tc.query, b.String(), tc.want)
		}
	}
}

func TestOutputValidate(t *testing.T) {
	for _, tc := range []struct {
		o    OutputOptions
		want string // substring of the error; "" means valid
	}{
		{OutputOptions{Output: "json", Color: "auto"}, ""},
		{OutputOptions{Output: "yaml-stream", Color: "on"}, ""},
		{OutputOptions{Output: "xml"}, "argument --output: Invalid choice"},
		{OutputOptions{Output: "json", Color: "blue"}, "argument --color: Invalid choice"},
		{OutputOptions{Output: "json", Query: "["}, "Bad value for --query [: Invalid jmespath expression"},
	} {
		err := tc.o.Validate("")
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.o, err, tc.want)
		}
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Code != ExitUsage {
				t.Errorf("%+v: want an *Error with exit code 252, got %#v", tc.o, err)
			}
		}
	}
}
