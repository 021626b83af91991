package conformance

import (
	"bytes"
	"encoding/base32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Exit codes of the AWS CLI v2.
const (
	v2ServiceError = 254
	v2ParamError   = 252
)

// TestAWSCLIv2ResyncMFADevice: resync-mfa-device with virtual and hardware serials,
// and each of its errors, as the AWS CLI v2 reports them.
func TestAWSCLIv2ResyncMFADevice(t *testing.T) {
	t.Parallel()
	f := loadFleet(t)
	s := startSim(t, "--clock", fixedTime().Format(time.RFC3339))
	admin := cliV2(t, s, accessKeyID, secretAccessKey)
	rows := manifest(t, s.now())
	hardware := f.device(t, "assigned hardware device", func(d device) bool {
		return d.UserName != "" && d.Kind == "hardware" && abs(d.DriftSteps) < resyncWindow
	})
	virtual := f.device(t, "drifted virtual device", drifted("virtual"))
	far := f.device(t, "device drifted beyond the resync window", tooFar)
	other := f.device(t, "second assigned device", func(d device) bool { return d.UserName != "" && d.UserName != virtual.UserName })
	denied, expired := keyWhere(t, f, func(k fleetKey) bool { return len(k.DenyActions) > 0 }), keyWhere(t, f, func(k fleetKey) bool { return k.Expires != nil })

	resync := func(user, serial, code1, code2 string) []string {
		return []string{"iam", "resync-mfa-device", "--user-name", user, "--serial-number", serial,
			"--authentication-code1", code1, "--authentication-code2", code2}
	}
	row := func(d device) manifestRow {
		r, ok := rows[d.SerialNumber]
		if !ok {
			t.Fatalf("sim manifest has no row for %s", d.SerialNumber)
		}
		return r
	}
	hw, vr, fr := row(hardware), row(virtual), row(far)
	cases := []struct {
		name string
		cli  cli
		args []string
		exit int
		code string // the service's error code, "" for none
		msg  string // in stderr
	}{
		{"hardware serial", admin, resync(hardware.UserName, hardware.SerialNumber, hw.Code1, hw.Code2), 0, "", ""},
		{"virtual device arn", admin, resync(virtual.UserName, virtual.SerialNumber, vr.Code1, vr.Code2), 0, "", ""},
		{"replayed codes", admin, resync(virtual.UserName, virtual.SerialNumber, vr.Code1, vr.Code2), v2ServiceError, "InvalidAuthenticationCode", "Authentication code for device is not valid"},
		{"codes in the wrong order", admin, resync(hardware.UserName, hardware.SerialNumber, hw.Code2, hw.Code1), v2ServiceError, "InvalidAuthenticationCode", ""},
		{"drifted beyond the window", admin, resync(far.UserName, far.SerialNumber, fr.Code1, fr.Code2), v2ServiceError, "InvalidAuthenticationCode", ""},
		{"unknown user", admin, resync("no-such-user", virtual.SerialNumber, vr.Code1, vr.Code2), v2ServiceError, "NoSuchEntity", "no-such-user"},
		{"unknown serial", admin, resync(virtual.UserName, "GAHT00000000", vr.Code1, vr.Code2), v2ServiceError, "NoSuchEntity", "GAHT00000000"},
		{"another user's device", admin, resync(other.UserName, virtual.SerialNumber, vr.Code1, vr.Code2), v2ServiceError, "NoSuchEntity", ""},
		{"seven digits", admin, resync(virtual.UserName, virtual.SerialNumber, "1234567", vr.Code2), v2ServiceError, "ValidationError", "Value '1234567' at 'authenticationCode1' failed to satisfy constraint"},
		{"five digits (checked by the cli)", admin, resync(virtual.UserName, virtual.SerialNumber, "12345", vr.Code2), v2ParamError, "", "Invalid length for parameter AuthenticationCode1"},
		{"key denied the action", cliV2(t, s, denied.ID, denied.Secret), resync(virtual.UserName, virtual.SerialNumber, vr.Code1, vr.Code2), v2ServiceError, "AccessDenied", "iam:ResyncMFADevice"},
		{"expired key", cliV2(t, s, expired.ID, expired.Secret), resync(virtual.UserName, virtual.SerialNumber, vr.Code1, vr.Code2), v2ServiceError, "ExpiredToken", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.cli.run(t, tc.args...)
			switch {
			case tc.exit == 0:
				if r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
					t.Errorf("want exit 0 and no output, got %s", r)
				}
			case tc.code != "":
				wantServiceError(t, tc.name, r, tc.exit, tc.code)
			default:
				if r.Code != tc.exit {
					t.Errorf("want exit %d, got %s", tc.exit, r)
				}
			}
			if tc.msg != "" && !strings.Contains(r.Stderr, tc.msg) {
				t.Errorf("stderr %q lacks %q", r.Stderr, tc.msg)
			}
		})
	}
	// The ledger holds one entry per call the service answered (not the one the CLI
	// refused), in order, with the outcome the client saw.
	var got []string
	for _, e := range s.ledger(t) {
		got = append(got, e.Outcome)
	}
	var want []string
	for _, tc := range cases {
		switch {
		case tc.exit == 0:
			want = append(want, "ok")
		case tc.exit == v2ServiceError:
			want = append(want, tc.code)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("ledger outcomes:\n got  %q\n want %q", got, want)
	}
}

func keyWhere(t *testing.T, f *fleet, ok func(k fleetKey) bool) fleetKey {
	t.Helper()
	for _, k := range f.AccessKeys {
		if ok(k) {
			return k
		}
	}
	t.Fatal("the sample fleet lacks an access key the test needs")
	return fleetKey{}
}

// TestAWSCLIv2VirtualMFADeviceLifecycle: create (seed and QR code), enable, list,
// deactivate and delete a virtual MFA device, with their errors.
func TestAWSCLIv2VirtualMFADeviceLifecycle(t *testing.T) {
	t.Parallel()
	f := loadFleet(t)
	s := startSim(t, "--clock", fixedTime().Format(time.RFC3339))
	aws := cliV2(t, s, accessKeyID, secretAccessKey)
	users := f.usersWithoutDevice(t, 2)
	user, second := users[0], users[1]
	dir := t.TempDir()
	arn := "arn:aws:iam::" + f.AccountID + ":mfa/"

	// Create with the seed written to a file.
	seedFile := filepath.Join(dir, "seed.txt")
	var created struct{ VirtualMFADevice struct{ SerialNumber string } }
	aws.json(t, &created, "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "conformance-seed",
		"--outfile", seedFile, "--bootstrap-method", "Base32StringSeed")
	serial := created.VirtualMFADevice.SerialNumber
	if serial != arn+"conformance-seed" {
		t.Errorf("create-virtual-mfa-device: serial %q, want %q", serial, arn+"conformance-seed")
	}
	seedBytes, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	seed := string(seedBytes)
	if len(seed) != 64 || strings.Trim(seed, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Errorf("create-virtual-mfa-device: the seed is %d characters, want 64 of base32 without padding", len(seed))
	} else if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(seed); err != nil || len(raw) != 40 {
		t.Errorf("create-virtual-mfa-device: the seed decodes to %d bytes (%v), want 40", len(raw), err)
	}

	// Create with a path, the QR code written to a file.
	qrFile := filepath.Join(dir, "qr.png")
	var qr struct{ VirtualMFADevice struct{ SerialNumber string } }
	aws.json(t, &qr, "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "conformance-qr", "--path", "/conformance/",
		"--outfile", qrFile, "--bootstrap-method", "QRCodePNG")
	qrSerial := qr.VirtualMFADevice.SerialNumber
	if qrSerial != arn+"conformance/conformance-qr" {
		t.Errorf("create-virtual-mfa-device --path: serial %q, want %q", qrSerial, arn+"conformance/conformance-qr")
	}
	checkQRPNG(t, qrFile)

	wantServiceError(t, "create-virtual-mfa-device with a taken name",
		aws.run(t, "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "conformance-seed", "--outfile", filepath.Join(dir, "x"), "--bootstrap-method", "Base32StringSeed"),
		v2ServiceError, "EntityAlreadyExists")

	// Enable with two consecutive codes of the new seed.
	now := s.now()
	enable := func(user, serial, code1, code2 string) result {
		return aws.run(t, "iam", "enable-mfa-device", "--user-name", user, "--serial-number", serial,
			"--authentication-code1", code1, "--authentication-code2", code2)
	}
	code1, code2 := totpCode(t, seed, now, -1), totpCode(t, seed, now, 0)
	if r := enable(user, serial, code1, code2); r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Fatalf("enable-mfa-device: want exit 0 and no output, got %s", r)
	}
	wantServiceError(t, "enable-mfa-device of a device in use", enable(second, serial, code1, code2), v2ServiceError, "EntityAlreadyExists")
	wantServiceError(t, "enable-mfa-device with wrong codes", enable(second, qrSerial, "000000", "000000"), v2ServiceError, "InvalidAuthenticationCode")

	// The device is listed as the user's and as assigned.
	var mfa struct {
		MFADevices []struct{ UserName, SerialNumber, EnableDate string }
	}
	aws.json(t, &mfa, "iam", "list-mfa-devices", "--user-name", user)
	if len(mfa.MFADevices) != 1 || mfa.MFADevices[0].SerialNumber != serial || mfa.MFADevices[0].UserName != user {
		t.Errorf("list-mfa-devices --user-name %s: want only %s, got %+v", user, serial, mfa.MFADevices)
	} else if ed, err := time.Parse(time.RFC3339, mfa.MFADevices[0].EnableDate); err != nil || ed.Sub(now).Abs() > time.Minute {
		t.Errorf("list-mfa-devices: enable date %q, want the simulator's clock %s", mfa.MFADevices[0].EnableDate, now.Format(time.RFC3339))
	}
	assigned, unassignedNow := listVirtual(t, aws, "Assigned"), listVirtual(t, aws, "Unassigned")
	if u, ok := assigned[serial]; !ok || u != user {
		t.Errorf("list-virtual-mfa-devices --assignment-status Assigned: %s is missing or not %s's (%q)", serial, user, u)
	}
	if _, ok := unassignedNow[qrSerial]; !ok {
		t.Errorf("list-virtual-mfa-devices --assignment-status Unassigned: %s is missing", qrSerial)
	}
	for sn, u := range unassignedNow {
		if u != "" {
			t.Errorf("list-virtual-mfa-devices --assignment-status Unassigned lists %s with user %q", sn, u)
		}
	}
	for sn, u := range assigned {
		if u == "" {
			t.Errorf("list-virtual-mfa-devices --assignment-status Assigned lists %s without a user", sn)
		}
	}
	wantAssigned, wantUnassigned := 1, 1 // the new devices
	for _, d := range f.Devices {
		if d.Kind == "virtual" && d.UserName != "" {
			wantAssigned++
		} else if d.Kind == "virtual" {
			wantUnassigned++
		}
	}
	if len(assigned) != wantAssigned || len(unassignedNow) != wantUnassigned {
		t.Errorf("list-virtual-mfa-devices: %d assigned and %d unassigned, want %d and %d", len(assigned), len(unassignedNow), wantAssigned, wantUnassigned)
	}

	// Deactivate, then delete; the errors of each.
	wantServiceError(t, "delete-virtual-mfa-device of an assigned device",
		aws.run(t, "iam", "delete-virtual-mfa-device", "--serial-number", serial), v2ServiceError, "DeleteConflict")
	if r := aws.run(t, "iam", "deactivate-mfa-device", "--user-name", user, "--serial-number", serial); r.Code != 0 || r.Stdout != "" {
		t.Errorf("deactivate-mfa-device: want exit 0 and no output, got %s", r)
	}
	wantServiceError(t, "deactivate-mfa-device again",
		aws.run(t, "iam", "deactivate-mfa-device", "--user-name", user, "--serial-number", serial), v2ServiceError, "NoSuchEntity")
	if r := aws.run(t, "iam", "delete-virtual-mfa-device", "--serial-number", serial); r.Code != 0 || r.Stdout != "" {
		t.Errorf("delete-virtual-mfa-device: want exit 0 and no output, got %s", r)
	}
	wantServiceError(t, "delete-virtual-mfa-device again",
		aws.run(t, "iam", "delete-virtual-mfa-device", "--serial-number", serial), v2ServiceError, "NoSuchEntity")
	if _, ok := listVirtual(t, aws, "Any")[serial]; ok {
		t.Errorf("list-virtual-mfa-devices still lists the deleted %s", serial)
	}

	var got []string
	for _, e := range s.ledger(t) {
		got = append(got, e.Action+" "+e.Outcome)
	}
	want := []string{"CreateVirtualMFADevice ok", "CreateVirtualMFADevice ok", "CreateVirtualMFADevice EntityAlreadyExists",
		"EnableMFADevice ok", "EnableMFADevice EntityAlreadyExists",
		"EnableMFADevice InvalidAuthenticationCode", "DeleteVirtualMFADevice DeleteConflict",
		"DeactivateMFADevice ok", "DeactivateMFADevice NoSuchEntity", "DeleteVirtualMFADevice ok", "DeleteVirtualMFADevice NoSuchEntity"}
	if !slices.Equal(got, want) {
		t.Errorf("ledger:\n got  %q\n want %q", got, want)
	}
}

// listVirtual returns the virtual devices of a list-virtual-mfa-devices call (the CLI
// follows the markers), each with its user's name ("" when unassigned).
func listVirtual(t *testing.T, c cli, status string) map[string]string {
	t.Helper()
	var out struct {
		VirtualMFADevices []struct {
			SerialNumber string
			User         *struct{ UserName, Arn string }
			EnableDate   string
		}
	}
	c.json(t, &out, "iam", "list-virtual-mfa-devices", "--assignment-status", status)
	m := map[string]string{}
	for _, d := range out.VirtualMFADevices {
		if _, dup := m[d.SerialNumber]; dup {
			t.Errorf("list-virtual-mfa-devices --assignment-status %s lists %s twice", status, d.SerialNumber)
		}
		m[d.SerialNumber] = ""
		if d.User != nil {
			m[d.SerialNumber] = d.User.UserName
			if d.EnableDate == "" {
				t.Errorf("list-virtual-mfa-devices: assigned %s has no EnableDate", d.SerialNumber)
			}
		}
	}
	return m
}

// checkQRPNG checks that a file is a PNG image of a QR code: square, black on white.
func checkQRPNG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Errorf("the qr code is not a png: %v", err)
		return
	}
	b := img.Bounds()
	if b.Dx() < 21 || b.Dx() != b.Dy() {
		t.Errorf("the qr code is %dx%d pixels, want a square of at least 21", b.Dx(), b.Dy())
	}
	dark, light := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if lum(img, x, y) < 0x4000 {
				dark++
			} else if lum(img, x, y) > 0xc000 {
				light++
			}
		}
	}
	if total := b.Dx() * b.Dy(); dark < total/10 || light < total/10 || dark+light != total {
		t.Errorf("the qr code has %d dark and %d light of %d pixels, want black modules on white", dark, light, total)
	}
}

func lum(img image.Image, x, y int) uint32 {
	r, g, b, _ := img.At(x, y).RGBA()
	return (r + g + b) / 3
}
