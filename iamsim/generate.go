package iamsim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Sample access key pair: AWS's documented example, used by samples/fleet.json and
// generated fleets.
const (
	ExampleAccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	ExampleSecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	ExampleAccountID       = "123456789012"
)

// GenerateFleet returns a deterministic fleet of n users, each with one assigned
// virtual device (user-0000001 ... with arn:aws:iam::123456789012:mfa/user-0000001),
// for benchmarks and soaks. Token drift is spread over -5..+5 steps, all within the
// default resync window; the server's stored drift is 0. The access key is the
// example pair, owned by the user "bench-admin".
func GenerateFleet(n int, seed int64) *Fleet {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7b))
	enabled := time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC)
	f := &Fleet{
		AccountID:    ExampleAccountID,
		AccountAlias: "tokenbatch-bench",
		AccessKeys:   []AccessKey{{AccessKeyID: ExampleAccessKeyID, SecretAccessKey: ExampleSecretAccessKey, UserName: "bench-admin"}},
		Users:        make([]User, 0, n+1),
		Devices:      make([]Device, 0, n),
	}
	f.Users = append(f.Users, User{UserName: "bench-admin"})
	secret := make([]byte, 20)
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("user-%07d", i)
		for j := 0; j < len(secret); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < len(secret); k++ {
				secret[j+k] = byte(v >> (8 * k))
			}
		}
		e := enabled
		f.Users = append(f.Users, User{UserName: name})
		f.Devices = append(f.Devices, Device{
			SerialNumber: "arn:aws:iam::" + ExampleAccountID + ":mfa/" + name,
			Kind:         KindVirtual,
			Seed:         encodeSeed(secret),
			DriftSteps:   rng.IntN(11) - 5,
			UserName:     name,
			EnableDate:   &e,
		})
	}
	return f
}

// WriteFleet writes f as JSON with one user or device per line, so that fleets of a
// million devices stream out quickly and still diff well.
func WriteFleet(w io.Writer, f *Fleet) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	head := struct {
		AccountID    string      `json:"account_id"`
		AccountAlias string      `json:"account_alias,omitempty"`
		AccessKeys   []AccessKey `json:"access_keys"`
		Roles        []Role      `json:"roles,omitempty"`
	}{f.AccountID, f.AccountAlias, f.AccessKeys, f.Roles}
	if head.AccessKeys == nil {
		head.AccessKeys = []AccessKey{}
	}
	hb, err := json.MarshalIndent(head, "", "  ")
	if err != nil {
		return err
	}
	bw.Write(hb[:len(hb)-2]) // without the closing "\n}"
	list := func(name string, n int, item func(i int) any) error {
		fmt.Fprintf(bw, ",\n  %q: [", name)
		for i := 0; i < n; i++ {
			b, err := json.Marshal(item(i))
			if err != nil {
				return err
			}
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString("\n    ")
			bw.Write(b)
		}
		if n > 0 {
			bw.WriteString("\n  ")
		}
		bw.WriteString("]")
		return nil
	}
	if err := list("users", len(f.Users), func(i int) any { return f.Users[i] }); err != nil {
		return err
	}
	if err := list("devices", len(f.Devices), func(i int) any { return f.Devices[i] }); err != nil {
		return err
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}
