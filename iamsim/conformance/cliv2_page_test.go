package conformance

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestAWSCLIv2Pagination: the CLI's --max-items, --starting-token, --page-size and
// --no-paginate over ListUsers, ListVirtualMFADevices and ListMFADevices. The
// simulator logs one line per request, so the number of pages the CLI fetched is known.
func TestAWSCLIv2Pagination(t *testing.T) {
	t.Parallel()
	f := loadFleet(t)
	s := startSim(t, "--log-requests")
	aws := cliV2(t, s, accessKeyID, secretAccessKey)
	var allUsers []string
	for _, u := range f.Users {
		allUsers = append(allUsers, u.UserName)
	}
	sort.Strings(allUsers)
	var allVirtual []string
	for _, d := range f.Devices {
		if d.Kind == "virtual" {
			allVirtual = append(allVirtual, d.SerialNumber)
		}
	}
	sort.Strings(allVirtual)
	type users struct {
		Users       []struct{ UserName string }
		NextToken   string
		IsTruncated bool
		Marker      string
	}
	names := func(u users) []string {
		var out []string
		for _, x := range u.Users {
			out = append(out, x.UserName)
		}
		return out
	}

	t.Run("max-items and starting-token", func(t *testing.T) {
		var first, rest users
		aws.json(t, &first, "iam", "list-users", "--max-items", "7")
		if !slices.Equal(names(first), allUsers[:7]) || first.NextToken == "" {
			t.Fatalf("list-users --max-items 7: got %q and next token %q, want %q and a token", names(first), first.NextToken, allUsers[:7])
		}
		aws.json(t, &rest, "iam", "list-users", "--starting-token", first.NextToken)
		if !slices.Equal(names(rest), allUsers[7:]) || rest.NextToken != "" {
			t.Errorf("list-users --starting-token: got %q (next token %q), want %q", names(rest), rest.NextToken, allUsers[7:])
		}
	})

	t.Run("page-size", func(t *testing.T) {
		before := strings.Count(s.stderr.String(), " ListUsers status=200")
		var all users
		aws.json(t, &all, "iam", "list-users", "--page-size", "4")
		if !slices.Equal(names(all), allUsers) {
			t.Errorf("list-users --page-size 4: got %q, want %q", names(all), allUsers)
		}
		pages := strings.Count(s.stderr.String(), " ListUsers status=200") - before
		if want := (len(allUsers) + 3) / 4; pages != want {
			t.Errorf("list-users --page-size 4: the cli fetched %d pages, want %d", pages, want)
		}
	})

	t.Run("no-paginate and marker", func(t *testing.T) {
		type page struct {
			VirtualMFADevices []struct{ SerialNumber string }
			IsTruncated       bool
			Marker            string
		}
		var got []string
		marker := ""
		for i := 0; ; i++ {
			args := []string{"iam", "list-virtual-mfa-devices", "--no-paginate", "--max-items", "20"}
			if marker != "" {
				args = append(args, "--marker", marker)
			}
			var p page
			aws.json(t, &p, args...)
			for _, d := range p.VirtualMFADevices {
				got = append(got, d.SerialNumber)
			}
			if !p.IsTruncated {
				if p.Marker != "" {
					t.Errorf("page %d is the last but carries a marker", i+1)
				}
				break
			}
			if len(p.VirtualMFADevices) != 20 || p.Marker == "" || i > 5 {
				t.Fatalf("page %d: %d devices, truncated, marker %q: want 20 and a marker", i+1, len(p.VirtualMFADevices), p.Marker)
			}
			marker = p.Marker
		}
		if !slices.Equal(got, allVirtual) {
			t.Errorf("list-virtual-mfa-devices by markers:\n got  %q\n want %q", got, allVirtual)
		}
	})

	t.Run("max-items with page-size", func(t *testing.T) {
		var out struct {
			MFADevices []struct{ SerialNumber string }
			NextToken  string
		}
		twoDevices := ""
		count := map[string]int{}
		for _, d := range f.Devices {
			count[d.UserName]++
			if d.UserName != "" && count[d.UserName] == 2 {
				twoDevices = d.UserName
			}
		}
		aws.json(t, &out, "iam", "list-mfa-devices", "--user-name", twoDevices, "--page-size", "1", "--max-items", "1")
		if len(out.MFADevices) != 1 || out.NextToken == "" {
			t.Errorf("list-mfa-devices --page-size 1 --max-items 1 of %s (2 devices): got %d devices, next token %q", twoDevices, len(out.MFADevices), out.NextToken)
		}
	})
}
