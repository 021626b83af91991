package conformance

import (
	"fmt"
	"net"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenbatch/tokenbatch/internal/testenv"
)

// startMoto starts `python3 -m moto.server` on a free loopback port and returns its
// URL. The port is found by listening on :0 and closing, so another process may take
// it first: then moto exits and the start is retried on another port.
func startMoto(t *testing.T) string {
	t.Helper()
	py := testenv.Python(t, "moto.server", "boto3")
start:
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd := exec.Command(py, "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		cmd.Env = testenv.CleanEnv(testenv.Env(t.TempDir(), "", "")...)
		out := &testenv.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("cannot start moto: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		deadline := time.Now().Add(30 * time.Second)
		for {
			select {
			case <-exited:
				if attempt < 3 {
					t.Logf("moto exited on port %d (taken?), retrying: %s", port, out.String())
					continue start
				}
				t.Fatalf("moto exited: %s", out.String())
			default:
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				return "http://" + addr
			}
			if time.Now().After(deadline) {
				t.Fatalf("moto did not listen on %s within 30 s: %s", addr, out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// motoExtra are keys that moto returns and IAM does not for that call, so the
// simulator rightly lacks them; motoMissing are keys IAM returns (members of the call's
// output in botocore's service model) that moto leaves out. Each is a moto bug, not a
// shape the simulator should copy.
var (
	motoExtra = map[string]string{
		// IAM returns the seed and QR code only from CreateVirtualMFADevice.
		"list_virtual_mfa_devices.VirtualMFADevices[].Base32StringSeed":            "moto lists seeds",
		"list_virtual_mfa_devices.VirtualMFADevices[].QRCodePNG":                   "moto lists qr codes",
		"list_virtual_mfa_devices_assigned.VirtualMFADevices[].Base32StringSeed":   "moto lists seeds",
		"list_virtual_mfa_devices_assigned.VirtualMFADevices[].QRCodePNG":          "moto lists qr codes",
		"list_virtual_mfa_devices_unassigned.VirtualMFADevices[].Base32StringSeed": "moto lists seeds",
		"list_virtual_mfa_devices_unassigned.VirtualMFADevices[].QRCodePNG":        "moto lists qr codes",
	}
	motoMissing = map[string]string{
		"list_account_aliases.IsTruncated": "moto omits IsTruncated from ListAccountAliases",
		"list_users_page.Marker":           "moto ignores MaxItems in ListUsers, so it never truncates",
	}
)

// TestMotoShapes runs the list, create and enable calls through boto3 against moto and
// the simulator, and requires the parsed responses to have the same shapes.
func TestMotoShapes(t *testing.T) {
	t.Parallel()
	f := loadFleet(t)
	at := fixedTime()
	s := startSim(t, "--clock", at.Format(time.RFC3339))
	motoURL := startMoto(t)
	var shapes struct {
		Moto map[string]any `json:"moto"`
		Sim  map[string]any `json:"sim"`
	}
	python(t, "shapes.py", map[string]any{
		"moto": motoURL, "sim": s.URL, "key": accessKeyID, "secret": secretAccessKey,
		"user": f.userWithoutDevice(t), "alias": f.Alias, "now": at.Unix(),
	}, &shapes, "boto3")
	if len(shapes.Moto) == 0 || len(shapes.Moto) != len(shapes.Sim) {
		t.Fatalf("want the same calls on both sides, got %d on moto and %d on the simulator", len(shapes.Moto), len(shapes.Sim))
	}
	var diffs []string
	shapeDiff("", shapes.Moto, shapes.Sim, &diffs)
	for _, d := range diffs {
		t.Errorf("shape differs: %s", d)
	}
	// moto's extras must stay absent from the simulator: matching moto there would be
	// a bug (a listing that returns seeds), which the shape comparison alone misses.
	for p := range motoExtra {
		if v := shapeAt(shapes.Sim, p); v != nil {
			t.Errorf("%s: the simulator returns it (%v); IAM does not", p, describe(v))
		}
	}
}

// shapeAt returns the shape at a path like "call.Member[].Member", nil if absent.
func shapeAt(tree any, path string) any {
	for _, part := range strings.Split(path, ".") {
		name, list := strings.CutSuffix(part, "[]")
		m, ok := tree.(map[string]any)
		if !ok {
			return nil
		}
		tree = m[name]
		if list {
			l, ok := tree.([]any)
			if !ok || len(l) != 2 {
				return nil
			}
			tree = l[1]
		}
	}
	return tree
}

// shapeDiff appends the differences between two shape trees (moto's, then the
// simulator's), skipping moto's known deviations.
func shapeDiff(path string, moto, sim any, diffs *[]string) {
	switch m := moto.(type) {
	case map[string]any:
		s, ok := sim.(map[string]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: moto has an object, the simulator %v", path, describe(sim)))
			return
		}
		keys := map[string]bool{}
		for k := range m {
			keys[k] = true
		}
		for k := range s {
			keys[k] = true
		}
		var sorted []string
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			p := k
			if path != "" {
				p = path + "." + k
			}
			mv, inM := m[k]
			sv, inS := s[k]
			switch {
			case !inS:
				if _, ok := motoExtra[p]; !ok {
					*diffs = append(*diffs, fmt.Sprintf("%s: moto has it (%v), the simulator not", p, describe(mv)))
				}
			case !inM:
				if _, ok := motoMissing[p]; !ok {
					*diffs = append(*diffs, fmt.Sprintf("%s: the simulator has it (%v), moto not", p, describe(sv)))
				}
			default:
				shapeDiff(p, mv, sv, diffs)
			}
		}
	case []any: // ["list", element shape]
		s, ok := sim.([]any)
		if !ok || len(s) != 2 || len(m) != 2 {
			*diffs = append(*diffs, fmt.Sprintf("%s: moto has a list, the simulator %v", path, describe(sim)))
			return
		}
		if m[1] == nil || s[1] == nil {
			if m[1] != nil || s[1] != nil {
				*diffs = append(*diffs, fmt.Sprintf("%s: a list empty on one side only (moto %v, simulator %v)", path, describe(m[1]), describe(s[1])))
			}
			return
		}
		shapeDiff(path+"[]", m[1], s[1], diffs)
	default:
		if !reflect.DeepEqual(moto, sim) {
			*diffs = append(*diffs, fmt.Sprintf("%s: moto has %v, the simulator %v", path, describe(moto), describe(sim)))
		}
	}
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "an object {" + strings.Join(keys, ",") + "}"
	case []any:
		return "a list"
	default:
		return fmt.Sprint(v)
	}
}
