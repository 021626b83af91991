package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An offline plan is for the account and partition its rows name, so that apply can
// hold the credentials to them; one whose rows name none has no account.
func TestOfflinePlanRecordsRowsAccount(t *testing.T) {
	const other = "111111111111"
	for _, tc := range []struct {
		name, csv, account, partition string
	}{
		{"virtual device", header + "alice,arn:aws:iam::" + other + ":mfa/alice,123456,654321\n", other, "aws"},
		{"hardware serial first", header + "bob,GAHT12345678,123456,654321\nalice,arn:aws-cn:iam::" + other + ":mfa/alice,123456,654321\n", other, "aws-cn"},
		{"account_id column", "user_name,serial_number,authentication_code1,authentication_code2,account_id\nbob,GAHT12345678,123456,654321," + other + "\n", other, ""},
		{"hardware serials only", header + "bob,GAHT12345678,123456,654321\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planCSV(t, tc.csv, Options{})
			if p.HasErrors() {
				t.Fatalf("problems: %v", problemCodes(p))
			}
			if p.AccountID != tc.account || p.Partition != tc.partition || !p.Offline {
				t.Errorf("account %q partition %q offline %v, want %q %q true", p.AccountID, p.Partition, p.Offline, tc.account, tc.partition)
			}
			path := filepath.Join(t.TempDir(), "plan.json")
			if err := p.Save(path); err != nil {
				t.Fatal(err)
			}
			q, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if q.AccountID != tc.account || q.Partition != tc.partition || !q.Offline {
				t.Errorf("loaded: account %q partition %q offline %v", q.AccountID, q.Partition, q.Offline)
			}
		})
	}
	// Planned with credentials: their account, not offline.
	p := planCSV(t, header+"alice,"+arnPfx+"alice,123456,654321\n", Options{AccountID: account, Partition: "aws"})
	if p.AccountID != account || p.Partition != "aws" || p.Offline {
		t.Errorf("online: account %q partition %q offline %v", p.AccountID, p.Partition, p.Offline)
	}
}

// Load holds every valid device to the header's account and partition, and takes them
// from the devices when the header names none (plans saved before it did).
func TestLoadBindsDevicesToAccount(t *testing.T) {
	const head = `{"format":"tokenbatch-plan/1","created_at":"2026-03-01T12:00:00Z",%s"source":"m.csv","max_code_age":"5m0s","problems":[],` + "\n" + `"devices":[%s]}`
	dev := func(serial, acct string) string {
		s := `{"line":2,"user_name":"alice","serial_number":"` + serial + `","authentication_code1":"123456","authentication_code2":"654321"`
		if acct != "" {
			s += `,"account_id":"` + acct + `"`
		}
		return s + "}"
	}
	load := func(hdr, devices string) (*Plan, error) {
		path := filepath.Join(t.TempDir(), "plan.json")
		if err := os.WriteFile(path, []byte(strings.Replace(strings.Replace(head, "%s", hdr, 1), "%s", devices, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(path)
	}
	p, err := load("", dev("arn:aws-us-gov:iam::111111111111:mfa/alice", ""))
	if err != nil || p.AccountID != "111111111111" || p.Partition != "aws-us-gov" {
		t.Errorf("header without account: %v, account %q partition %q", err, p.AccountID, p.Partition)
	}
	for _, tc := range []struct{ name, hdr, devices, want string }{
		{"ARN of another account", `"account_id":"123456789012",`, dev("arn:aws:iam::111111111111:mfa/alice", ""), "account 111111111111"},
		{"account_id of another account", `"account_id":"123456789012",`, dev("GAHT12345678", "111111111111"), "account 111111111111"},
		{"another partition", `"account_id":"123456789012","partition":"aws",`, dev("arn:aws-cn:iam::123456789012:mfa/alice", ""), "partition aws-cn"},
		{"devices disagree", "", dev("arn:aws:iam::123456789012:mfa/alice", "") + "," + dev("GAHT12345678", "111111111111"), "account 111111111111"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.hdr, tc.devices)
			if !errors.Is(err, ErrPlanFile) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrPlanFile naming %s", err, tc.want)
			}
		})
	}
}

// The exported rules, shared by the planner, resync-mfa-device and the TPM commands.
func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name        string
		check       func(string) error
		value       string
		code        string // "" for valid
		short, long bool
		char        rune
	}{
		{"user", CheckUserName, "a_b+c=d,e.f@g-h", "", false, false, 0},
		{"empty user", CheckUserName, "", "missing_user", true, false, 0},
		{"long user", CheckUserName, strings.Repeat("u", 129), "invalid_user", false, true, 0},
		{"user with a space", CheckUserName, "a b", "invalid_user", false, false, ' '},
		{"user with é", CheckUserName, "josé", "invalid_user", false, false, 'é'},
		{"hardware serial", CheckSerialNumber, "GAHT12345678", "", false, false, 0},
		{"ARN", CheckSerialNumber, arnPfx + "path/alice", "", false, false, 0},
		{"short serial", CheckSerialNumber, "GAHT1234", "invalid_serial", true, false, 0},
		{"empty serial", CheckSerialNumber, "", "missing_serial", true, false, 0},
		{"serial with a space", CheckSerialNumber, "GAHT 1234567", "invalid_serial", false, false, ' '},
		{"code", CheckCode, "012345", "", false, false, 0},
		{"lost zero", CheckCode, "12345", "lost_leading_zero", true, false, 0},
		{"seven digits", CheckCode, "1234567", "too_many_digits", false, true, 0},
		{"letters", CheckCode, "abcdef", "not_digits", false, false, 0},
		{"fullwidth digits", CheckCode, "１２３４５６", "not_digits", false, false, 0},
		{"formula", CheckCode, `="012345"`, "spreadsheet_formula", false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.value)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("%q: %v", tc.value, err)
				}
				return
			}
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("%q: %v, want a *RuleError", tc.value, err)
			}
			if re.Code != tc.code || re.TooShort() != tc.short || re.TooLong() != tc.long || re.Char != tc.char {
				t.Errorf("%q: code %s short %v long %v char %q, want %s %v %v %q", tc.value, re.Code, re.TooShort(), re.TooLong(), re.Char,
					tc.code, tc.short, tc.long, tc.char)
			}
			if err.Error() == "" || err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] {
				t.Errorf("error %q is not lower-case", err)
			}
			if re.Param == "AuthenticationCode" && len(tc.value) >= 3 && strings.Contains(err.Error(), strings.Trim(tc.value, `="`)) {
				t.Errorf("error %q holds the code", err)
			}
		})
	}
}
