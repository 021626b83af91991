package iamsim_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
)

// The hand-rolled TOTP agrees with pquerna/otp for every device of the sample, at many
// times, drift included.
func TestCodesMatchPquernaOTP(t *testing.T) {
	f := simtest.SampleFleet(t)
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range f.Devices {
		seed, err := iamsim.DecodeSeed(d.Seed)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			at := base.Add(time.Duration(i*977) * time.Second)
			want, err := totp.GenerateCodeCustom(d.Seed, at.Add(time.Duration(d.DriftSteps)*30*time.Second),
				totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				t.Fatal(err)
			}
			if got := iamsim.Code(seed, at, d.DriftSteps); got != want {
				t.Fatalf("%s at %v: %s, pquerna/otp %s", d.SerialNumber, at, got, want)
			}
		}
	}
}

// RFC 6238 appendix B, SHA1 (8-digit values truncated to 6).
func TestRFC6238Vectors(t *testing.T) {
	seed := []byte("12345678901234567890")
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"} {
		if got := iamsim.Code(seed, time.Unix(unix, 0), 0); got != want {
			t.Errorf("%d: %s, want %s", unix, got, want)
		}
	}
}

func TestManifestDeterministic(t *testing.T) {
	f := simtest.SampleFleet(t)
	at := time.Date(2025, 1, 1, 12, 0, 10, 0, time.UTC)
	var a, b bytes.Buffer
	if err := iamsim.WriteManifest(&a, f, at); err != nil {
		t.Fatal(err)
	}
	iamsim.WriteManifest(&b, f, at.Add(15*time.Second)) // same step
	if a.String() != b.String() {
		t.Error("same step, different manifest")
	}
	lines := strings.Split(strings.TrimSpace(a.String()), "\n")
	assigned := 0
	for _, d := range f.Devices {
		if d.UserName != "" {
			assigned++
		}
	}
	if lines[0] != iamsim.ManifestHeader || len(lines) != assigned+1 {
		t.Fatalf("%d lines, want %d", len(lines), assigned+1)
	}
	bob, _ := f.FindDevice("arn:aws:iam::123456789012:mfa/bob")
	seed, _ := iamsim.DecodeSeed(bob.Seed)
	want := "bob,arn:aws:iam::123456789012:mfa/bob," + iamsim.Code(seed, at, 2) + "," + iamsim.Code(seed, at, 3)
	if !strings.Contains(a.String(), want+"\n") {
		t.Errorf("bob's row: want %s", want)
	}
}

func TestGenerateFleet(t *testing.T) {
	a, b := iamsim.GenerateFleet(500, 7), iamsim.GenerateFleet(500, 7)
	var wa, wb bytes.Buffer
	if err := iamsim.WriteFleet(&wa, a); err != nil {
		t.Fatal(err)
	}
	iamsim.WriteFleet(&wb, b)
	if wa.String() != wb.String() {
		t.Fatal("not deterministic")
	}
	var wc bytes.Buffer
	iamsim.WriteFleet(&wc, iamsim.GenerateFleet(500, 8))
	if wc.String() == wa.String() {
		t.Fatal("the seed changes nothing")
	}
	back, err := iamsim.ParseFleet(&wa)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Devices) != 500 || len(back.Users) != 501 || back.AccessKeys[0].AccessKeyID != iamsim.ExampleAccessKeyID {
		t.Fatalf("round trip: %d devices %d users", len(back.Devices), len(back.Users))
	}
}

func TestFleetValidation(t *testing.T) {
	good := `{"account_id":"123456789012","access_keys":[],"users":[{"user_name":"a"}],"devices":[%s]}`
	for _, tc := range []struct{ name, devices, want string }{
		{"bad kind", `{"serial_number":"GAHT12345678","kind":"fido","seed":"JBSWY3DPEHPK3PXP","user_name":"a"}`, `kind "fido"`},
		{"bad seed", `{"serial_number":"GAHT12345678","kind":"hardware","seed":"!!!","user_name":"a"}`, "seed: not valid base32"},
		{"unknown user", `{"serial_number":"GAHT12345678","kind":"hardware","seed":"JBSWY3DPEHPK3PXP","user_name":"b"}`, `user_name "b" is not in users`},
		{"virtual not an arn", `{"serial_number":"GAHT12345678","kind":"virtual","seed":"JBSWY3DPEHPK3PXP"}`, "a virtual device's serial is its ARN"},
		{"unknown field", `{"serial_number":"GAHT12345678","kind":"hardware","seed":"JBSWY3DPEHPK3PXP","colour":"red"}`, `unknown field "colour"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iamsim.ParseFleet(strings.NewReader(strings.Replace(good, "%s", tc.devices, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "JBSWY3DPEHPK3PXP") {
				t.Error("the error shows the seed")
			}
		})
	}
}
