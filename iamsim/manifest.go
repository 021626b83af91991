package iamsim

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

// ManifestHeader is the first line of a manifest.
const ManifestHeader = "user_name,serial_number,authentication_code1,authentication_code2"

// WriteManifest writes the CSV manifest a person would collect from the fleet's tokens
// at time at: for each assigned device, in fleet order, the codes of the token's steps
// T-1 and T, where T is at's step plus the token's drift. (The token shows code 2 at
// at; code 1 is the one it showed just before.) Submitted at once, the pair resyncs the
// device; its code 2's step becomes the last accepted step.
func WriteManifest(w io.Writer, f *Fleet, at time.Time) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, ManifestHeader)
	step := Step(at)
	for i, d := range f.Devices {
		if d.UserName == "" {
			continue
		}
		seed, err := DecodeSeed(d.Seed)
		if err != nil {
			return fmt.Errorf("devices[%d] (%s): seed: %w", i, d.SerialNumber, err)
		}
		o := newTOTP(seed)
		t := step + int64(d.DriftSteps)
		fmt.Fprintf(bw, "%s,%s,%s,%s\n", csvField(d.UserName), csvField(d.SerialNumber),
			formatCode(o.codeAt(t-1)), formatCode(o.codeAt(t)))
	}
	return bw.Flush()
}

// csvField quotes a field only if it needs it (names and serials never do).
func csvField(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r' {
			q := []byte{'"'}
			for j := 0; j < len(s); j++ {
				if s[j] == '"' {
					q = append(q, '"')
				}
				q = append(q, s[j])
			}
			return string(append(q, '"'))
		}
	}
	return s
}

// TokenCode returns the code the device's token shows at time at (its drift included).
func (f *Fleet) TokenCode(serial string, at time.Time) (string, error) {
	for _, d := range f.Devices {
		if d.SerialNumber == serial {
			seed, err := DecodeSeed(d.Seed)
			if err != nil {
				return "", err
			}
			return Code(seed, at, d.DriftSteps), nil
		}
	}
	return "", fmt.Errorf("no device %q in the fleet", serial)
}

// FindDevice returns the fleet's device with serial.
func (f *Fleet) FindDevice(serial string) (Device, bool) {
	for _, d := range f.Devices {
		if d.SerialNumber == serial {
			return d, true
		}
	}
	return Device{}, false
}
