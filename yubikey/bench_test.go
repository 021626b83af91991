package yubikey_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/internal/vpcdtest"
	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/vyubikey"
	"github.com/tokenbatch/tokenbatch/yubikey"
)

func benchKey(b *testing.B) (*vyubikey.Key, []plan.Device) {
	var creds []vyubikey.Credential
	var devices []plan.Device
	for i := range 30 {
		name := fmt.Sprintf("Amazon Web Services:device-%02d@123456789012", i)
		creds = append(creds, vyubikey.Credential{Name: name, Secret: []byte(fmt.Sprintf("seed %02d of forty bytes, as AWS gives", i))})
		devices = append(devices, plan.Device{Token: &plan.Token{Kind: "yubikey", Serial: "30303030", Credential: name}})
	}
	return vpcdtest.StartKey(b, vyubikey.Config{Serial: 30303030, Credentials: creds}), devices
}

// BenchmarkKeyBothCodes30 reads both codes (steps T-1 and T) of every credential on a
// key of 30 credentials through pcscd and vpcd: one transaction with two CALCULATE ALL
// and their SEND REMAINING chaining. One op is one key and time step.
func BenchmarkKeyBothCodes30(b *testing.B) {
	k, devices := benchKey(b)
	keys, _, err := yubikey.ListKeys(b.Context(), yubikey.Options{AllowVirtualReaders: true, Devices: []string{"30303030"}})
	if err != nil {
		b.Fatal(err)
	}
	src := yubikey.NewSource(keys, yubikey.Options{})
	defer src.Close()
	start := k.Stats()
	now := time.Now()
	n := 0
	for b.Loop() {
		now = now.Add(30 * time.Second) // a new step: no cached read
		for _, d := range devices {
			if _, _, err := src.Codes(b.Context(), d, now); err != nil {
				b.Fatal(err)
			}
		}
		n++
	}
	st := k.Stats()
	b.ReportMetric(float64(st.CalculateAll-start.CalculateAll)/float64(n), "calculate-all/op")
	b.ReportMetric(float64(st.SendRemaining-start.SendRemaining)/float64(n), "send-remaining/op")
}

// BenchmarkYkmanOneCode is Yubico's ykman printing one code of the same key, for
// comparison: `ykman --reader "Virtual PCD 0x 00" oath accounts code -s NAME`.
func BenchmarkYkmanOneCode(b *testing.B) {
	k, devices := benchKey(b)
	for b.Loop() {
		if out, err := vpcdtest.Ykman(b, "--reader", k.Reader(), "oath", "accounts", "code", "-s", devices[7].Token.Credential).CombinedOutput(); err != nil {
			b.Fatalf("ykman: %v\n%s", err, out)
		}
	}
}
