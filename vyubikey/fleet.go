package vyubikey

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tokenbatch/tokenbatch/iamsim"
)

// AWSIssuer is the issuer AWS's virtual-MFA QR codes give a credential.
const AWSIssuer = "Amazon Web Services"

// FleetSelection says which devices of a simulator fleet to load on a virtual key.
type FleetSelection struct {
	// Serials (device ARNs) or user names to load; empty means every assigned virtual
	// device.
	Devices []string
	// UseAlias names the account by its alias, as AWS's QR code does when the account
	// has one; otherwise by its 12-digit id.
	UseAlias bool
	// Touch makes every loaded credential need a touch.
	Touch bool
	// Skip and Limit pick a slice of the selected devices, e.g. to split a fleet over
	// two keys.
	Skip, Limit int
}

// FleetCredentials turns a fleet's virtual MFA devices into credentials named as AWS's
// QR code names them: "Amazon Web Services:DEVICE_NAME@ACCOUNT".
func FleetCredentials(f *iamsim.Fleet, sel FleetSelection) ([]Credential, error) {
	account := f.AccountID
	if sel.UseAlias && f.AccountAlias != "" {
		account = f.AccountAlias
	}
	var out []Credential
	for _, d := range f.Devices {
		if d.Kind != iamsim.KindVirtual {
			continue
		}
		if len(sel.Devices) > 0 {
			if !slices.Contains(sel.Devices, d.SerialNumber) && !(d.UserName != "" && slices.Contains(sel.Devices, d.UserName)) {
				continue
			}
		} else if d.UserName == "" {
			continue
		}
		seed, err := iamsim.DecodeSeed(d.Seed)
		if err != nil {
			return nil, fmt.Errorf("fleet device %s: seed: %w", d.SerialNumber, err)
		}
		name := d.SerialNumber[strings.LastIndex(d.SerialNumber, "/")+1:]
		out = append(out, Credential{Name: AWSIssuer + ":" + name + "@" + account, Secret: seed, Touch: sel.Touch})
	}
	if sel.Skip > 0 {
		out = out[min(sel.Skip, len(out)):]
	}
	if sel.Limit > 0 && len(out) > sel.Limit {
		out = out[:sel.Limit]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no virtual MFA device of the fleet matches (want assigned virtual devices, or --device SERIAL|USER)")
	}
	for _, c := range out {
		if len(c.Name) > 64 {
			return nil, fmt.Errorf("credential name %q is longer than the 64 bytes a YubiKey allows", c.Name)
		}
	}
	return out, nil
}
