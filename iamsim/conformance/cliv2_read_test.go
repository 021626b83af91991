package conformance

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestAWSCLIv2ReadsAndSTS: GetUser, ListUsers, ListAccountAliases, ListMFADevices,
// an action the simulator lacks, and STS's GetCallerIdentity, GetSessionToken and
// AssumeRole (with and without MFA), through the AWS CLI v2.
func TestAWSCLIv2ReadsAndSTS(t *testing.T) {
	t.Parallel()
	f := loadFleet(t)
	s := startSim(t, "--clock", fixedTime().Format(time.RFC3339))
	aws := cliV2(t, s, accessKeyID, secretAccessKey)
	admin := f.admin(t)
	userARN := func(name, path string) string {
		if path == "" {
			path = "/"
		}
		return "arn:aws:iam::" + f.AccountID + ":user" + path + name
	}

	t.Run("get-user", func(t *testing.T) {
		u := f.Users[len(f.Users)/2]
		var out struct {
			User struct{ Path, UserName, UserId, Arn, CreateDate string }
		}
		aws.json(t, &out, "iam", "get-user", "--user-name", u.UserName)
		got := out.User
		if got.UserName != u.UserName || got.Arn != userARN(u.UserName, u.Path) || !strings.HasPrefix(got.UserId, "AIDA") {
			t.Errorf("get-user --user-name %s: got %+v", u.UserName, got)
		}
		if ct, err := time.Parse(time.RFC3339, got.CreateDate); err != nil || !ct.Equal(u.CreateDate) {
			t.Errorf("get-user: CreateDate %q, want the fleet's %s", got.CreateDate, u.CreateDate.Format(time.RFC3339))
		}
		aws.json(t, &out, "iam", "get-user")
		if out.User.UserName != admin || out.User.Arn != userARN(admin, "") {
			t.Errorf("get-user without a name: want the caller %s, got %+v", admin, out.User)
		}
		wantServiceError(t, "get-user of an unknown user", aws.run(t, "iam", "get-user", "--user-name", "no-such-user"), v2ServiceError, "NoSuchEntity")
	})

	t.Run("list-users", func(t *testing.T) {
		var out struct {
			Users []struct{ UserName, Path, Arn string }
		}
		aws.json(t, &out, "iam", "list-users")
		var got, want []string
		for _, u := range out.Users {
			got = append(got, u.UserName)
			if u.Path == "" || u.Arn != userARN(u.UserName, u.Path) {
				t.Errorf("list-users: %s has path %q and arn %q", u.UserName, u.Path, u.Arn)
			}
		}
		for _, u := range f.Users {
			want = append(want, u.UserName)
		}
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("list-users:\n got  %q\n want %q (the fleet's users in name order)", got, want)
		}
	})

	t.Run("list-account-aliases", func(t *testing.T) {
		var out struct{ AccountAliases []string }
		aws.json(t, &out, "iam", "list-account-aliases")
		if !slices.Equal(out.AccountAliases, []string{f.Alias}) {
			t.Errorf("list-account-aliases: got %q, want [%q]", out.AccountAliases, f.Alias)
		}
	})

	t.Run("list-mfa-devices", func(t *testing.T) {
		perUser := map[string][]string{}
		for _, d := range f.Devices {
			if d.UserName != "" {
				perUser[d.UserName] = append(perUser[d.UserName], d.SerialNumber)
			}
		}
		var multi string
		for u, ds := range perUser {
			if len(ds) > 1 && (multi == "" || u < multi) {
				multi = u
			}
		}
		if multi == "" {
			t.Fatal("the sample fleet has no user with two devices")
		}
		for _, u := range []string{multi, ""} {
			args := []string{"iam", "list-mfa-devices"}
			want := perUser[admin]
			if u != "" {
				args = append(args, "--user-name", u)
				want = perUser[u]
			}
			var out struct {
				MFADevices []struct{ UserName, SerialNumber, EnableDate string }
			}
			aws.json(t, &out, args...)
			var got []string
			for _, d := range out.MFADevices {
				got = append(got, d.SerialNumber)
				if _, err := time.Parse(time.RFC3339, d.EnableDate); err != nil {
					t.Errorf("list-mfa-devices: %s has EnableDate %q", d.SerialNumber, d.EnableDate)
				}
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("list-mfa-devices %q: got %q, want %q", args[2:], got, want)
			}
		}
		wantServiceError(t, "list-mfa-devices of an unknown user", aws.run(t, "iam", "list-mfa-devices", "--user-name", "no-such-user"), v2ServiceError, "NoSuchEntity")
	})

	t.Run("action the simulator lacks", func(t *testing.T) {
		wantServiceError(t, "list-roles", aws.run(t, "iam", "list-roles"), v2ServiceError, "InvalidAction")
	})

	t.Run("sts", func(t *testing.T) {
		var id struct{ UserId, Account, Arn string }
		aws.json(t, &id, "sts", "get-caller-identity")
		if id.Account != f.AccountID || id.Arn != userARN(admin, "") || !strings.HasPrefix(id.UserId, "AIDA") {
			t.Errorf("get-caller-identity: got %+v, want account %s and %s's arn", id, f.AccountID, admin)
		}

		type creds struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
		var st struct{ Credentials creds }
		aws.json(t, &st, "sts", "get-session-token", "--duration-seconds", "900")
		if !strings.HasPrefix(st.Credentials.AccessKeyId, "ASIA") || st.Credentials.SessionToken == "" {
			t.Errorf("get-session-token without mfa: want temporary credentials, got key id %q", st.Credentials.AccessKeyId)
		}
		if exp, err := time.Parse(time.RFC3339, st.Credentials.Expiration); err != nil || exp.Sub(s.now()).Round(time.Minute) != 15*time.Minute {
			t.Errorf("get-session-token --duration-seconds 900: expiration %q, want 15 minutes after the simulator's clock", st.Credentials.Expiration)
		}

		var roleName string
		for _, r := range f.Roles {
			if r.RequiresMFA {
				roleName = r.RoleName
			}
		}
		if roleName == "" {
			t.Fatal("the sample fleet has no role requiring mfa")
		}
		dev := f.device(t, "device of the admin in sync", func(d device) bool { return d.UserName == admin && d.DriftSteps == d.ServerDriftSteps })
		roleARN := "arn:aws:iam::" + f.AccountID + ":role/" + roleName
		assume := func(extra ...string) result {
			return aws.run(t, append([]string{"sts", "assume-role", "--role-arn", roleARN, "--role-session-name", "conformance", "--output", "json"}, extra...)...)
		}
		wantServiceError(t, "assume-role without mfa", assume(), v2ServiceError, "AccessDenied")
		wantServiceError(t, "assume-role with a wrong code", assume("--serial-number", dev.SerialNumber,
			"--token-code", wrongCode(totpCode(t, dev.Seed, s.now(), dev.DriftSteps))), v2ServiceError, "AccessDenied")
		r := assume("--serial-number", dev.SerialNumber, "--token-code", totpCode(t, dev.Seed, s.now(), dev.DriftSteps))
		if r.Code != 0 {
			t.Fatalf("assume-role with mfa: want exit 0, got %s", r)
		}
		var ar struct {
			Credentials     creds
			AssumedRoleUser struct{ AssumedRoleId, Arn string }
		}
		decodeJSON(t, r.Stdout, &ar)
		wantArn := "arn:aws:sts::" + f.AccountID + ":assumed-role/" + roleName + "/conformance"
		if ar.AssumedRoleUser.Arn != wantArn || !strings.HasPrefix(ar.Credentials.AccessKeyId, "ASIA") {
			t.Fatalf("assume-role: got user %+v and key id %q, want %s", ar.AssumedRoleUser, ar.Credentials.AccessKeyId, wantArn)
		}
		// The role's session credentials sign further calls.
		session := cliV2(t, s, ar.Credentials.AccessKeyId, ar.Credentials.SecretAccessKey, "AWS_SESSION_TOKEN="+ar.Credentials.SessionToken)
		session.json(t, &id, "sts", "get-caller-identity")
		if id.Arn != wantArn {
			t.Errorf("get-caller-identity with the role's session: arn %q, want %q", id.Arn, wantArn)
		}
	})
}
