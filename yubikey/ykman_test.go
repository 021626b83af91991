package yubikey_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/internal/vpcdtest"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/vyubikey"
	"github.com/tokenbatch/tokenbatch/ykoath"
	"github.com/tokenbatch/tokenbatch/yubikey"
)

// ykman (Yubico's own client) and tokenbatch read the same codes from the virtual key,
// through the password-protected applet; a wrong password fails clearly in both.
func TestSameCodesAsYkman(t *testing.T) {
	creds := []vyubikey.Credential{
		{Name: "Amazon Web Services:alice@123456789012", Secret: []byte("12345678901234567890")},
		{Name: "Amazon Web Services:bob@123456789012", Secret: []byte("another seed of 20 b")},
		{Name: "Amazon Web Services:carol@123456789012", Secret: []byte("a third seed, longer than twenty bytes")},
	}
	k := vpcdtest.StartKey(t, vyubikey.Config{Serial: 31415926, Password: password, Credentials: creds})
	opts := yubikey.Options{AllowVirtualReaders: true, Password: yubikey.StaticPassword(password)}
	keys, _, err := yubikey.ListKeys(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	src := yubikey.NewSource(keys, opts)
	defer src.Close()

	for attempt := 0; ; attempt++ {
		before := ykoath.TimeStep(time.Now(), 30)
		out, err := vpcdtest.Ykman(t, "--reader", k.Reader(), "oath", "accounts", "code", "-p", password).CombinedOutput()
		if err != nil {
			t.Fatalf("ykman oath accounts code: %v\n%s", err, out)
		}
		ykmanCodes := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				ykmanCodes[strings.Join(f[:len(f)-1], " ")] = f[len(f)-1]
			}
		}
		now := time.Now()
		if ykoath.TimeStep(now, 30) != before && attempt < 3 {
			continue // the step turned between the two reads
		}
		for _, c := range creds {
			d := plan.Device{Token: &plan.Token{Kind: "yubikey", Serial: "31415926", Credential: c.Name}}
			_, code2, err := src.Codes(t.Context(), d, now)
			if err != nil {
				t.Fatal(err)
			}
			if ykmanCodes[c.Name] == "" || ykmanCodes[c.Name] != code2 {
				t.Errorf("%s: ykman and tokenbatch disagree (ykman printed %d accounts)", c.Name, len(ykmanCodes))
			}
		}
		break
	}

	out, err := vpcdtest.Ykman(t, "--reader", k.Reader(), "oath", "accounts", "code", "-p", "wrong").CombinedOutput()
	if err == nil {
		t.Errorf("ykman accepted a wrong password: %s", out)
	}
	_, problems, err := yubikey.ListKeys(t.Context(), yubikey.Options{AllowVirtualReaders: true, Devices: []string{"31415926"},
		Password: yubikey.StaticPassword("wrong")})
	if err == nil || len(problems) != 1 || !errors.Is(problems[0], ykoath.ErrWrongPassword) ||
		!strings.Contains(problems[0].Error(), "yubikey 31415926: wrong oath password") {
		t.Errorf("wrong password: %v %v", problems, err)
	}
}
