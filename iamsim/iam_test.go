package iamsim_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tokenbatch/tokenbatch/iamsim"
	"github.com/tokenbatch/tokenbatch/iamsim/simtest"
)

var ctx = context.Background()

func resync(c *iam.Client, r row) error {
	_, err := c.ResyncMFADevice(ctx, &iam.ResyncMFADeviceInput{UserName: &r.user, SerialNumber: &r.serial,
		AuthenticationCode1: &r.code1, AuthenticationCode2: &r.code2})
	return err
}

func TestResyncStoresDriftAndRejectsReplay(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	c := iam.NewFromConfig(sim.Config(t))
	rows := manifest(t, sim, time.Time{})
	for _, tc := range []struct {
		serial string
		drift  int
	}{
		{vserial("alice"), 0}, {vserial("bob"), 3}, {vserial("carol"), -4}, {vserial("dave"), 12},
		{vserial("erin"), -25}, {vserial("frank"), 45}, {vserial("quinn"), -55},
		{"GAHT12345678", 2}, {"GAHT11223344", -6}, {vserial("engineering/niaj"), 1},
	} {
		r := rows[tc.serial]
		if err := resync(c, r); err != nil {
			t.Fatalf("%s: %v", tc.serial, err)
		}
		st, ok := sim.Server.Device(tc.serial)
		if !ok || !st.HasLastStep {
			t.Fatalf("%s: no state", tc.serial)
		}
		// The clock may cross a step boundary between the manifest and the call.
		if d := st.DriftSteps - tc.drift; d != 0 && d != -1 {
			t.Errorf("%s: stored drift %d, want %d", tc.serial, st.DriftSteps, tc.drift)
		}
		msg := wantErr(t, resync(c, r), "InvalidAuthenticationCode", 403)
		if msg != "Authentication code for device is not valid." {
			t.Errorf("message %q", msg)
		}
	}
	// A token drifted beyond the window cannot be resynced.
	wantErr(t, resync(c, rows[vserial("grace")]), "InvalidAuthenticationCode", 403)
	if st, _ := sim.Server.Device(vserial("grace")); st.HasLastStep || st.DriftSteps != 0 {
		t.Errorf("grace's device changed: %+v", st)
	}
	// A later pair from the same token is accepted again.
	sim.Server.Clock().Advance(60 * time.Second)
	if err := resync(c, manifest(t, sim, time.Time{})[vserial("bob")]); err != nil {
		t.Fatalf("later pair: %v", err)
	}
}

func TestResyncErrors(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	c := iam.NewFromConfig(sim.Config(t))
	rows := manifest(t, sim, time.Time{})
	alice := rows[vserial("alice")]
	swap := alice
	swap.code1, swap.code2 = alice.code2, alice.code1
	for _, tc := range []struct {
		name   string
		r      row
		code   string
		status int
		msg    string
	}{
		{"wrong code", row{alice.user, alice.serial, "000000", "000001"}, "InvalidAuthenticationCode", 403, "Authentication code for device is not valid."},
		{"codes swapped", swap, "InvalidAuthenticationCode", 403, ""},
		{"no such user", row{"nobody", alice.serial, alice.code1, alice.code2}, "NoSuchEntity", 404, "The user with name nobody cannot be found."},
		{"another user's device", row{"bob", alice.serial, alice.code1, alice.code2}, "NoSuchEntity", 404, "MFA Device with serial number " + alice.serial + " does not exist."},
		{"unassigned device", row{"alice", vserial("spare-1"), alice.code1, alice.code2}, "NoSuchEntity", 404, ""},
		{"letters", row{alice.user, alice.serial, "abcdef", alice.code2}, "ValidationError", 400,
			`1 validation error detected: Value 'abcdef' at 'authenticationCode1' failed to satisfy constraint: Member must satisfy regular expression pattern: [\d]+`},
		{"seven digits", row{alice.user, alice.serial, alice.code1, "1234567"}, "ValidationError", 400,
			`1 validation error detected: Value '1234567' at 'authenticationCode2' failed to satisfy constraint: Member must have length less than or equal to 6`},
		{"space in user", row{"al ice", alice.serial, alice.code1, alice.code2}, "ValidationError", 400,
			`1 validation error detected: Value 'al ice' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`},
		{"short serial", row{alice.user, "GAHT1", alice.code1, alice.code2}, "ValidationError", 400,
			`1 validation error detected: Value 'GAHT1' at 'serialNumber' failed to satisfy constraint: Member must have length greater than or equal to 9`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := wantErr(t, resync(c, tc.r), tc.code, tc.status)
			if tc.msg != "" && msg != tc.msg {
				t.Errorf("message %q\nwant    %q", msg, tc.msg)
			}
		})
	}
	// Still resyncable after all that.
	if err := resync(c, alice); err != nil {
		t.Fatal(err)
	}
}

func TestSignInBeforeAndAfterResync(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	bob := sts.NewFromConfig(sim.ConfigWithKey(t, bobKey, bobSecret, ""))
	serial := vserial("bob")
	gst := func(code string) (*sts.GetSessionTokenOutput, error) {
		return bob.GetSessionToken(ctx, &sts.GetSessionTokenInput{SerialNumber: &serial, TokenCode: &code})
	}
	_, err := gst(sim.TokenCode(t, serial, time.Time{}))
	if msg := wantErr(t, err, "AccessDenied", 403); !strings.Contains(msg, "invalid MFA one time pass code") {
		t.Errorf("message %q", msg)
	}
	if err := resync(iam.NewFromConfig(sim.Config(t)), manifest(t, sim, time.Time{})[serial]); err != nil {
		t.Fatal(err)
	}
	// The token's next code (the current one was just used by the resync).
	out, err := gst(sim.TokenCode(t, serial, sim.Now().Add(30*time.Second)))
	if err != nil {
		t.Fatalf("after resync: %v", err)
	}
	// The same code again is a replay.
	_, err = gst(sim.TokenCode(t, serial, sim.Now().Add(30*time.Second)))
	wantErr(t, err, "AccessDenied", 403)
	// The temporary credentials work, with their session token.
	cr := out.Credentials
	if !strings.HasPrefix(*cr.AccessKeyId, "ASIA") || cr.Expiration.Before(sim.Now().Add(11*time.Hour)) {
		t.Errorf("credentials %s expire %v", *cr.AccessKeyId, cr.Expiration)
	}
	sc := sts.NewFromConfig(sim.ConfigWithKey(t, *cr.AccessKeyId, *cr.SecretAccessKey, *cr.SessionToken))
	id, err := sc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || *id.Arn != "arn:aws:iam::"+acct+":user/bob" {
		t.Fatalf("session identity %v %v", id, err)
	}
	_, err = sc.GetSessionToken(ctx, &sts.GetSessionTokenInput{})
	wantErr(t, err, "AccessDenied", 403)
	// Without the session token the key is unknown.
	_, err = sts.NewFromConfig(sim.ConfigWithKey(t, *cr.AccessKeyId, *cr.SecretAccessKey, "")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantErr(t, err, "InvalidClientTokenId", 403)
	// A device of someone else.
	other := vserial("alice")
	_, err = bob.GetSessionToken(ctx, &sts.GetSessionTokenInput{SerialNumber: &other, TokenCode: aws.String(sim.TokenCode(t, other, time.Time{}))})
	if msg := wantErr(t, err, "AccessDenied", 403); !strings.Contains(msg, "unable to validate MFA code") {
		t.Errorf("message %q", msg)
	}
	// Sessions expire with the simulator's clock.
	sim.Server.Clock().Advance(13 * time.Hour)
	_, err = sc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantErr(t, err, "ExpiredToken", 403)
}

func TestAssumeRole(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	c := sts.NewFromConfig(sim.Config(t))
	role := "arn:aws:iam::" + acct + ":role/BatchOperator"
	_, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: &role, RoleSessionName: aws.String("batch")})
	if msg := wantErr(t, err, "AccessDenied", 403); !strings.Contains(msg, "not authorized to perform: sts:AssumeRole") {
		t.Errorf("message %q", msg)
	}
	serial := vserial("mfa-admin")
	_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: &role, RoleSessionName: aws.String("batch"), SerialNumber: &serial, TokenCode: aws.String("000000")})
	wantErr(t, err, "AccessDenied", 403)
	out, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: &role, RoleSessionName: aws.String("batch"),
		SerialNumber: &serial, TokenCode: aws.String(sim.TokenCode(t, serial, time.Time{})), DurationSeconds: aws.Int32(7200)})
	if err != nil {
		t.Fatal(err)
	}
	want := "arn:aws:sts::" + acct + ":assumed-role/BatchOperator/batch"
	if *out.AssumedRoleUser.Arn != want {
		t.Errorf("assumed role %s", *out.AssumedRoleUser.Arn)
	}
	cr := out.Credentials
	rc := sim.ConfigWithKey(t, *cr.AccessKeyId, *cr.SecretAccessKey, *cr.SessionToken)
	id, err := sts.NewFromConfig(rc).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || *id.Arn != want {
		t.Fatalf("role identity %v %v", id, err)
	}
	// The role session can call IAM too.
	if _, err := iam.NewFromConfig(rc).ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Fatal(err)
	}
	// Roles without MFA, unknown roles, and over-long sessions.
	if _, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/ReadOnlyAuditor"), RoleSessionName: aws.String("audit")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/Nope"), RoleSessionName: aws.String("x1")})
	wantErr(t, err, "AccessDenied", 403)
	_, err = c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/ReadOnlyAuditor"), RoleSessionName: aws.String("audit"), DurationSeconds: aws.Int32(7200)})
	wantErr(t, err, "ValidationError", 400)
}

func TestVirtualDeviceLifecycle(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	c := iam.NewFromConfig(sim.Config(t))
	out, err := c.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("new-phone"), Path: aws.String("/field/")})
	if err != nil {
		t.Fatal(err)
	}
	d := out.VirtualMFADevice
	serial := *d.SerialNumber
	if serial != "arn:aws:iam::"+acct+":mfa/field/new-phone" {
		t.Errorf("serial %s", serial)
	}
	if len(d.Base32StringSeed) != 64 {
		t.Fatalf("seed is %d characters, want 64", len(d.Base32StringSeed))
	}
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(d.Base32StringSeed))
	if err != nil || len(seed) != 40 {
		t.Fatalf("seed: %d bytes, %v", len(seed), err)
	}
	img, err := png.Decode(bytes.NewReader(d.QRCodePNG))
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("QR code PNG: %v", err)
	}
	// The PNG is a real QR code of the URI an authenticator app scans, in AWS's format.
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("the QR code PNG does not decode: %v", err)
	}
	wantURI := "otpauth://totp/Amazon%20Web%20Services:new-phone@example-corp?secret=" + string(d.Base32StringSeed) +
		"&issuer=Amazon%20Web%20Services"
	if res.GetText() != wantURI {
		t.Errorf("the QR code holds another URI than %s", strings.Replace(wantURI, string(d.Base32StringSeed), "SEED", 1))
	}
	_, err = c.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("new-phone"), Path: aws.String("/field/")})
	wantErr(t, err, "EntityAlreadyExists", 409)

	now := sim.Now()
	enable := func(user, c1, c2 string) error {
		_, err := c.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: &user, SerialNumber: &serial,
			AuthenticationCode1: &c1, AuthenticationCode2: &c2})
		return err
	}
	wantErr(t, enable("build-bot", "123456", "654321"), "InvalidAuthenticationCode", 403)
	if err := enable("build-bot", iamsim.Code(seed, now, -1), iamsim.Code(seed, now, 0)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, enable("temp-contractor", iamsim.Code(seed, now, 1), iamsim.Code(seed, now, 2)), "EntityAlreadyExists", 409)
	l, err := c.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String("build-bot")})
	if err != nil || len(l.MFADevices) != 1 || *l.MFADevices[0].SerialNumber != serial || l.MFADevices[0].EnableDate == nil {
		t.Fatalf("list after enable: %+v %v", l, err)
	}
	_, err = c.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: &serial})
	wantErr(t, err, "DeleteConflict", 409)
	_, err = c.DeactivateMFADevice(ctx, &iam.DeactivateMFADeviceInput{UserName: aws.String("alice"), SerialNumber: &serial})
	wantErr(t, err, "NoSuchEntity", 404)
	if _, err := c.DeactivateMFADevice(ctx, &iam.DeactivateMFADeviceInput{UserName: aws.String("build-bot"), SerialNumber: &serial}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: &serial}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: &serial})
	wantErr(t, err, "NoSuchEntity", 404)
	_, err = c.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("bad name")})
	wantErr(t, err, "ValidationError", 400)

	// The ledger has every state-changing call, and never a code.
	var actions []string
	for _, e := range sim.Ledger() {
		actions = append(actions, e.Action+":"+e.Outcome)
	}
	want := "CreateVirtualMFADevice:ok CreateVirtualMFADevice:EntityAlreadyExists EnableMFADevice:InvalidAuthenticationCode EnableMFADevice:ok EnableMFADevice:EntityAlreadyExists DeleteVirtualMFADevice:DeleteConflict DeactivateMFADevice:NoSuchEntity DeactivateMFADevice:ok DeleteVirtualMFADevice:ok DeleteVirtualMFADevice:NoSuchEntity CreateVirtualMFADevice:ValidationError"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("ledger:\n%s\nwant\n%s", got, want)
	}
}

func TestEnableLimitAndHardware(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	c := iam.NewFromConfig(sim.Config(t))
	rows := manifest(t, sim, time.Time{})
	f := sim.Fleet
	// Enable the unassigned hardware token for judy with codes its token shows.
	hw, _ := f.FindDevice("GAHT99990001")
	seed, _ := iamsim.DecodeSeed(hw.Seed)
	now := sim.Now()
	_, err := c.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("judy"), SerialNumber: aws.String("GAHT99990001"),
		AuthenticationCode1: aws.String(iamsim.Code(seed, now, -1)), AuthenticationCode2: aws.String(iamsim.Code(seed, now, 0))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("judy"), SerialNumber: aws.String("GAXX00000000"),
		AuthenticationCode1: aws.String("123456"), AuthenticationCode2: aws.String("123456")})
	wantErr(t, err, "NoSuchEntity", 404)
	// Fill judy up to 8 devices.
	for i := 0; i < 6; i++ {
		name := "judy-extra-" + string(rune('a'+i))
		out, err := c.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: &name})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := iamsim.DecodeSeed(string(out.VirtualMFADevice.Base32StringSeed))
		_, err = c.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("judy"), SerialNumber: out.VirtualMFADevice.SerialNumber,
			AuthenticationCode1: aws.String(iamsim.Code(s, now, -1)), AuthenticationCode2: aws.String(iamsim.Code(s, now, 0))})
		if i < 5 && err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		if i == 5 {
			wantErr(t, err, "LimitExceeded", 409)
		}
	}
	// judy's hardware token resyncs like a virtual one.
	if err := resync(c, rows["GAHT11223344"]); err != nil {
		t.Fatal(err)
	}
}

func TestListsAndPagination(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	c := iam.NewFromConfig(sim.Config(t))
	count := func(status iamtypes.AssignmentStatusType) int {
		p := iam.NewListVirtualMFADevicesPaginator(c, &iam.ListVirtualMFADevicesInput{AssignmentStatus: status, MaxItems: aws.Int32(4)})
		n, pages := 0, 0
		seen := map[string]bool{}
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, d := range out.VirtualMFADevices {
				if seen[*d.SerialNumber] {
					t.Fatalf("%s listed twice", *d.SerialNumber)
				}
				seen[*d.SerialNumber] = true
				if (d.User != nil) != (d.EnableDate != nil) {
					t.Errorf("%s: user and enable date disagree", *d.SerialNumber)
				}
				if status == iamtypes.AssignmentStatusTypeUnassigned && d.User != nil {
					t.Errorf("%s is assigned", *d.SerialNumber)
				}
				n++
			}
		}
		if n > 4 && pages < 2 {
			t.Errorf("%d devices in %d pages", n, pages)
		}
		return n
	}
	var virt, unassigned int
	for _, d := range sim.Fleet.Devices {
		if d.Kind == iamsim.KindVirtual {
			virt++
			if d.UserName == "" {
				unassigned++
			}
		}
	}
	if got := count(iamtypes.AssignmentStatusTypeAny); got != virt {
		t.Errorf("Any: %d, want %d", got, virt)
	}
	if got := count(iamtypes.AssignmentStatusTypeUnassigned); got != unassigned {
		t.Errorf("Unassigned: %d, want %d", got, unassigned)
	}
	if got := count(iamtypes.AssignmentStatusTypeAssigned); got != virt-unassigned {
		t.Errorf("Assigned: %d, want %d", got, virt-unassigned)
	}
	_, err := c.ListVirtualMFADevices(ctx, &iam.ListVirtualMFADevicesInput{AssignmentStatus: "Some"})
	if msg := wantErr(t, err, "ValidationError", 400); !strings.Contains(msg, "Member must satisfy enum value set: [Assigned, Unassigned, Any]") {
		t.Errorf("message %q", msg)
	}
	_, err = c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(1001)})
	wantErr(t, err, "ValidationError", 400)

	up := iam.NewListUsersPaginator(c, &iam.ListUsersInput{MaxItems: aws.Int32(7)})
	users := 0
	for up.HasMorePages() {
		out, err := up.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		users += len(out.Users)
	}
	if users != len(sim.Fleet.Users) {
		t.Errorf("ListUsers: %d, want %d", users, len(sim.Fleet.Users))
	}
	lu, err := c.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/engineering/")})
	if err != nil || len(lu.Users) != 1 || *lu.Users[0].UserName != "niaj" {
		t.Errorf("path prefix: %+v %v", lu, err)
	}

	m, err := c.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String("judy"), MaxItems: aws.Int32(1)})
	if err != nil || len(m.MFADevices) != 1 || !m.IsTruncated || m.Marker == nil {
		t.Fatalf("judy page 1: %+v %v", m, err)
	}
	m2, err := c.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String("judy"), Marker: m.Marker})
	if err != nil || len(m2.MFADevices) != 1 || m2.IsTruncated || *m2.MFADevices[0].SerialNumber == *m.MFADevices[0].SerialNumber {
		t.Fatalf("judy page 2: %+v %v", m2, err)
	}
	// Without UserName: the caller's own devices.
	own, err := c.ListMFADevices(ctx, &iam.ListMFADevicesInput{})
	if err != nil || len(own.MFADevices) != 1 || *own.MFADevices[0].UserName != "mfa-admin" {
		t.Fatalf("own devices: %+v %v", own, err)
	}
	_, err = c.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String("nobody")})
	wantErr(t, err, "NoSuchEntity", 404)

	u, err := c.GetUser(ctx, &iam.GetUserInput{})
	if err != nil || *u.User.UserName != "mfa-admin" || *u.User.Arn != "arn:aws:iam::"+acct+":user/mfa-admin" {
		t.Fatalf("GetUser: %+v %v", u, err)
	}
	u, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("niaj")})
	if err != nil || *u.User.Path != "/engineering/" || !strings.HasPrefix(*u.User.UserId, "AIDA") || u.User.CreateDate.IsZero() {
		t.Fatalf("GetUser niaj: %+v %v", u, err)
	}
	_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
	wantErr(t, err, "NoSuchEntity", 404)
	aa, err := c.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
	if err != nil || len(aa.AccountAliases) != 1 || aa.AccountAliases[0] != "example-corp" {
		t.Fatalf("aliases: %+v %v", aa, err)
	}
}

func TestQueryStringEncodingInMarker(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{})
	c := iam.NewFromConfig(sim.Config(t))
	_, err := c.ListUsers(ctx, &iam.ListUsersInput{Marker: aws.String("not a marker")})
	wantErr(t, err, "ValidationError", 400)
	_, err = c.ListUsers(ctx, &iam.ListUsersInput{Marker: aws.String("\u20ac")})
	if msg := wantErr(t, err, "ValidationError", 400); !strings.Contains(msg, `[\u0020-\u00FF]+`) {
		t.Errorf("message %q", msg)
	}
	_ = url.QueryEscape
}
