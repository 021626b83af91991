package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// boto3Record is what testdata/boto3_conformance.py saw for one check.
type boto3Record struct {
	OK              bool            `json:"ok"`
	Status          int             `json:"status"`
	Code            string          `json:"code"`
	Type            string          `json:"type"`
	Message         string          `json:"message"`
	RequestID       string          `json:"request_id"`
	HeaderRequestID string          `json:"header_request_id"`
	Date            string          `json:"date"`
	Retries         int             `json:"retries"`
	Exception       string          `json:"exception"`
	Data            json.RawMessage `json:"data"`
}

func (r boto3Record) String() string {
	if r.OK {
		return fmt.Sprintf("ok, http %d, data %s", r.Status, r.Data)
	}
	if r.Exception != "" {
		return "exception " + r.Exception
	}
	return fmt.Sprintf("http %d %s %s: %q", r.Status, r.Type, r.Code, r.Message)
}

// TestBoto3 drives every action, its errors with their HTTP statuses, the paginators,
// SigV4 rejections (including signatures from the past and the future), HTTPS with a
// CA bundle and throttling through boto3, in one python3 process.
func TestBoto3(t *testing.T) {
	t.Parallel()
	f := loadFleet(t)
	at := fixedTime()
	s := startSim(t, "--clock", at.Format(time.RFC3339))
	throttled := startSim(t, "--rate", "1", "--burst", "1")
	hostClock := startSim(t) // signatures from the past and the future, judged by one clock
	caFile := t.TempDir() + "/ca.pem"
	secure := startSim(t, "--tls-self-signed", "--tls-cert-out", caFile)

	admin := f.admin(t)
	users := f.usersWithoutDevice(t, 2)
	resynced := f.device(t, "drifted device", drifted("virtual"))
	row := manifest(t, s.now())[resynced.SerialNumber]
	signin := f.device(t, "admin's device in sync", func(d device) bool { return d.UserName == admin && d.DriftSteps == d.ServerDriftSteps })
	hardware := f.device(t, "unassigned hardware token", func(d device) bool { return d.UserName == "" && d.Kind == "hardware" })
	denied := keyWhere(t, f, func(k fleetKey) bool { return len(k.DenyActions) > 0 })
	expired := keyWhere(t, f, func(k fleetKey) bool { return k.Expires != nil })
	var role string
	for _, r := range f.Roles {
		if r.RequiresMFA {
			role = "arn:aws:iam::" + f.AccountID + ":role/" + r.RoleName
		}
	}
	params := map[string]any{
		"url": s.URL, "host_clock_url": hostClock.URL, "throttled_url": throttled.URL, "https_url": secure.URL, "ca_bundle": caFile,
		"key": accessKeyID, "secret": secretAccessKey, "admin": admin,
		"denied_key": denied.ID, "denied_secret": denied.Secret, "expired_key": expired.ID, "expired_secret": expired.Secret,
		"user": users[0], "other_user": users[1],
		"now": float64(at.Unix()), "launched": float64(s.launched.UnixNano()) / 1e9,
		"resync":   map[string]string{"user": row.UserName, "serial": row.SerialNumber, "code1": row.Code1, "code2": row.Code2},
		"signin":   map[string]any{"serial": signin.SerialNumber, "seed": signin.Seed, "drift": signin.DriftSteps},
		"hardware": map[string]any{"serial": hardware.SerialNumber, "seed": hardware.Seed, "drift": hardware.DriftSteps},
		"role_arn": role,
	}
	var got map[string]boto3Record
	python(t, "boto3_conformance.py", params, &got, "boto3")

	check := func(name string) boto3Record {
		t.Helper()
		r, ok := got[name]
		if !ok {
			t.Errorf("%s: the script did not run it", name)
		}
		return r
	}
	// Every answer carries its request id in the body and in x-amzn-RequestId, and a
	// Date header from the simulator's clock.
	for name, r := range got {
		if r.Exception != "" || strings.HasPrefix(name, "paginate") {
			continue
		}
		if r.RequestID == "" || r.RequestID != r.HeaderRequestID {
			t.Errorf("%s: request id %q in the body, %q in x-amzn-RequestId: want the same, non-empty", name, r.RequestID, r.HeaderRequestID)
		}
		if d, err := http.ParseTime(r.Date); err != nil {
			t.Errorf("%s: Date header %q: %v", name, r.Date, err)
		} else if onMainSim(name) && d.Sub(s.now()).Abs() > time.Minute {
			t.Errorf("%s: Date header %s, want the simulator's clock %s", name, r.Date, s.now().Format(time.RFC1123))
		}
	}

	// Successes.
	for _, name := range []string{"resync ok", "create virtual device", "enable 1", "enable 8", "deactivate", "delete",
		"list mfa devices of the user", "get user", "list account aliases", "get caller identity", "signed 10 minutes ago", "signed 10 minutes ahead",
		"get session token with mfa", "session credentials", "assume role with mfa", "https with ca bundle", "throttled 0",
		"enable hardware token", "deactivate hardware token"} {
		if r := check(name); !r.OK || r.Status != 200 {
			t.Errorf("%s: want http 200, got %s", name, r)
		}
	}
	// Errors: IAM's code, HTTP status and type, and part of the message.
	errs := []struct {
		name, code string
		status     int
		msg        string
	}{
		{"resync replayed", "InvalidAuthenticationCode", 403, "Authentication code for device is not valid"},
		{"resync unknown user", "NoSuchEntity", 404, "The user with name no-such-user cannot be found."},
		{"resync seven digits", "ValidationError", 400, "Value '1234567' at 'authenticationCode1' failed to satisfy constraint: Member must have length less than or equal to 6"},
		{"resync missing code (unchecked client)", "ValidationError", 400, "Value null at 'authenticationCode2' failed to satisfy constraint: Member must not be null"},
		{"create virtual device taken name", "EntityAlreadyExists", 409, ""},
		{"create virtual device bad path", "ValidationError", 400, "at 'path' failed to satisfy constraint"},
		{"create virtual device serial too long", "InvalidInput", 400, ""},
		{"delete hardware token", "NoSuchEntity", 404, ""},
		{"get user non-ascii name", "ValidationError", 400, "Value 'b\u00f6b' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"},
		{"get user name too long", "ValidationError", 400, "Member must have length less than or equal to 128"},
		{"enable 9", "LimitExceeded", 409, ""},
		{"enable device in use", "EntityAlreadyExists", 409, ""},
		{"enable unknown device", "NoSuchEntity", 404, ""},
		{"delete assigned device", "DeleteConflict", 409, ""},
		{"deactivate again", "NoSuchEntity", 404, ""},
		{"delete again", "NoSuchEntity", 404, ""},
		{"list users bad marker", "ValidationError", 400, ""},
		{"list virtual devices bad status", "ValidationError", 400, "Member must satisfy enum value set: [Assigned, Unassigned, Any]"},
		{"get user unknown", "NoSuchEntity", 404, ""},
		{"unsupported action", "InvalidAction", 400, "ListRoles"},
		{"denied key", "AccessDenied", 403, "iam:ResyncMFADevice"},
		{"expired key", "ExpiredToken", 403, ""},
		{"unsigned", "MissingAuthenticationToken", 403, ""},
		{"wrong secret", "SignatureDoesNotMatch", 403, "The request signature we calculated does not match"},
		{"unknown key", "InvalidClientTokenId", 403, ""},
		{"signed 20 minutes ago", "SignatureDoesNotMatch", 403, "Signature expired"},
		{"signed 20 minutes ahead", "SignatureDoesNotMatch", 403, "Signature not yet current"},
		{"get session token with session credentials", "AccessDenied", 403, ""},
		{"get session token with the same code", "AccessDenied", 403, "MultiFactorAuthentication failed with invalid MFA one time pass code"},
		{"assume role without mfa", "AccessDenied", 403, "sts:AssumeRole"},
		{"assume unknown role", "AccessDenied", 403, ""},
	}
	for _, e := range errs {
		r := check(e.name)
		wantType := "Sender"
		if r.OK || r.Code != e.code || r.Status != e.status || r.Type != wantType || !strings.Contains(r.Message, e.msg) {
			t.Errorf("%s: want http %d %s %s with %q, got %s", e.name, e.status, wantType, e.code, e.msg, r)
		}
	}
	for i := 1; i <= 8; i++ {
		if r := check(fmt.Sprintf("enable %d", i)); !r.OK {
			t.Errorf("enable %d of %d devices allowed per user: %s", i, 8, r)
		}
	}

	// Extracted values.
	data := func(name string, v any) {
		t.Helper()
		if r := check(name); r.OK {
			if err := json.Unmarshal(r.Data, v); err != nil {
				t.Errorf("%s: data %s: %v", name, r.Data, err)
			}
		}
	}
	var created struct {
		Serial       string `json:"serial"`
		SeedLen      int    `json:"seed_len"`
		SeedIsBase32 bool   `json:"seed_is_base32"`
		PNGMagic     bool   `json:"png_magic"`
	}
	data("create virtual device", &created)
	if created.Serial != "arn:aws:iam::"+f.AccountID+":mfa/boto3-0" || created.SeedLen != 64 || !created.SeedIsBase32 || !created.PNGMagic {
		t.Errorf("create virtual device: want serial mfa/boto3-0, a 64-character base32 seed and a png, got %+v", created)
	}
	var hw struct {
		Serials []string `json:"serials"`
	}
	data("list mfa devices with the hardware token", &hw)
	if !slices.Equal(hw.Serials, []string{hardware.SerialNumber}) {
		t.Errorf("list mfa devices after enabling hardware token %s: got %q", hardware.SerialNumber, hw.Serials)
	}
	var mfa struct {
		Count            int  `json:"count"`
		EnableDateIsTime bool `json:"enable_date_is_time"`
	}
	data("list mfa devices of the user", &mfa)
	if mfa.Count != 8 || !mfa.EnableDateIsTime {
		t.Errorf("list mfa devices of the user: want 8 devices with EnableDate timestamps, got %+v", mfa)
	}
	type paged struct {
		Pages    int      `json:"pages"`
		Items    []string `json:"items"`
		WithUser int      `json:"with_user"`
	}
	var pu paged
	data("paginate users", &pu)
	var wantUsers []string
	for _, u := range f.Users {
		wantUsers = append(wantUsers, u.UserName)
	}
	sort.Strings(wantUsers)
	if !slices.Equal(pu.Items, wantUsers) || pu.Pages != (len(wantUsers)+6)/7 {
		t.Errorf("paginate users (page size 7): %d pages of %q, want %d pages of %q", pu.Pages, pu.Items, (len(wantUsers)+6)/7, wantUsers)
	}
	// Virtual devices: the fleet's, plus boto3-1..7 (assigned, boto3-0 was deleted) and
	// boto3-8 (unassigned: the user had 8 devices when it was enabled).
	assigned, unassigned := 7, 1
	for _, d := range f.Devices {
		if d.Kind == "virtual" && d.UserName != "" {
			assigned++
		} else if d.Kind == "virtual" {
			unassigned++
		}
	}
	for status, want := range map[string][2]int{"Any": {assigned + unassigned, assigned}, "Assigned": {assigned, assigned}, "Unassigned": {unassigned, 0}} {
		var p paged
		data("paginate virtual devices "+status, &p)
		if len(p.Items) != want[0] || p.WithUser != want[1] || p.Pages != (want[0]+4)/5 {
			t.Errorf("paginate virtual devices %s (page size 5): %d pages, %d devices, %d with a user; want %d pages, %d, %d",
				status, p.Pages, len(p.Items), p.WithUser, (want[0]+4)/5, want[0], want[1])
		}
		if !sort.StringsAreSorted(p.Items) || len(slices.Compact(slices.Clone(p.Items))) != len(p.Items) {
			t.Errorf("paginate virtual devices %s: items out of order or repeated across pages: %q", status, p.Items)
		}
	}
	var pm paged
	data("paginate mfa devices", &pm)
	if len(pm.Items) != 7 || pm.Pages != 3 {
		t.Errorf("paginate mfa devices (page size 3): %d pages of %d devices, want 3 of 7", pm.Pages, len(pm.Items))
	}
	var page struct {
		Count     int  `json:"count"`
		Truncated bool `json:"truncated"`
		HasMarker bool `json:"has_marker"`
	}
	data("list users max items", &page)
	if page.Count != 2 || !page.Truncated || !page.HasMarker {
		t.Errorf("list users MaxItems=2: want 2 users, IsTruncated and a Marker, got %+v", page)
	}
	var user struct {
		User             string `json:"user"`
		Arn              string `json:"arn"`
		CreateDateIsTime bool   `json:"create_date_is_time"`
	}
	data("get user", &user)
	if user.User != users[1] || !strings.HasSuffix(user.Arn, ":user/"+users[1]) || !user.CreateDateIsTime {
		t.Errorf("get user %s: got %+v", users[1], user)
	}
	var aliases struct {
		Aliases []string `json:"aliases"`
	}
	data("list account aliases", &aliases)
	if !slices.Equal(aliases.Aliases, []string{f.Alias}) {
		t.Errorf("list account aliases: %q, want [%q]", aliases.Aliases, f.Alias)
	}
	var ident struct {
		Arn     string `json:"arn"`
		Account string `json:"account"`
	}
	data("get caller identity", &ident)
	if ident.Account != f.AccountID || !strings.HasSuffix(ident.Arn, ":user/"+admin) {
		t.Errorf("get caller identity: %+v, want %s in %s", ident, admin, f.AccountID)
	}
	data("session credentials", &ident)
	if !strings.HasSuffix(ident.Arn, ":user/"+admin) {
		t.Errorf("get caller identity with session credentials: %q, want the admin's arn", ident.Arn)
	}
	data("assume role with mfa", &ident)
	if !strings.HasSuffix(ident.Arn, "/boto3") || !strings.Contains(ident.Arn, ":assumed-role/") {
		t.Errorf("assume role with mfa: arn %q", ident.Arn)
	}

	// HTTPS without the CA bundle fails in the client.
	if r := check("https without ca bundle"); r.OK || !strings.Contains(r.Exception, "SSL") {
		t.Errorf("https without ca bundle: want an ssl error, got %s", r)
	}

	// Throttling, retries off: the first call drains the bucket, later ones are answered
	// as IAM does; retries on: botocore retries Throttling until the bucket refills.
	throttledSeen := 0
	for i := 1; i <= 5; i++ {
		r := check(fmt.Sprintf("throttled %d", i))
		if r.OK {
			continue
		}
		throttledSeen++
		if r.Code != "Throttling" || r.Status != 400 || r.Type != "Sender" || r.Message != "Rate exceeded" || r.Retries != 0 {
			t.Errorf("throttled %d: want http 400 Sender Throttling \"Rate exceeded\" and no retry, got %s (retries %d)", i, r, r.Retries)
		}
	}
	if throttledSeen == 0 {
		t.Errorf("five calls right after a burst of one at one call a second: none was throttled")
	}
	var retried struct {
		Users         int  `json:"users"`
		SurelyLimited bool `json:"first_attempt_surely_throttled"`
	}
	data("throttled with retries", &retried)
	if r := check("throttled with retries"); !r.OK || retried.Users != len(f.Users) {
		t.Errorf("throttled with retries: want success with %d users, got %s", len(f.Users), r)
	} else if retried.SurelyLimited && r.Retries < 1 {
		t.Errorf("throttled with retries: the bucket was empty, yet botocore made no retry")
	} else {
		t.Logf("throttled with retries: botocore succeeded after %d retries (bucket surely empty at first: %v)", r.Retries, retried.SurelyLimited)
	}
}

// onMainSim tells the checks answered by the simulator on the fixed clock from those of
// the others (rate-limited, HTTPS, host clock).
func onMainSim(check string) bool {
	for _, p := range []string{"throttled", "https", "signed"} {
		if strings.HasPrefix(check, p) {
			return false
		}
	}
	return true
}
