package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tokenbatch/tokenbatch/tpmtoken"
)

// tpmListRow is what `tokens list --tpm` shows of a store entry: no key material.
type tpmListRow struct {
	SerialNumber string `json:"SerialNumber"`
	UserName     string `json:"UserName"`
	AccountID    string `json:"AccountId,omitempty"`
	DeviceName   string `json:"DeviceName,omitempty"`
	KeyAuth      bool   `json:"KeyAuth"`
	Created      string `json:"Created,omitempty"`
	Source       string `json:"Source,omitempty"`
}

// runTokensListTPM prints the devices held in a TPM store, without secrets.
// `tokens list --tpm` calls it. output is "table" (or ""), "text" or "json".
func runTokensListTPM(ctx context.Context, stdio IO, store, output string) error {
	st, err := tpmtoken.OpenStore(store, false)
	if err != nil {
		return tpmExit(err)
	}
	entries, err := st.List()
	if err != nil {
		return tpmExit(err)
	}
	rows := make([]tpmListRow, 0, len(entries))
	for _, e := range entries {
		r := tpmListRow{SerialNumber: e.SerialNumber, UserName: e.UserName, AccountID: e.AccountID,
			DeviceName: e.DeviceName, KeyAuth: e.KeyAuth, Source: e.Source}
		if !e.Created.IsZero() {
			r.Created = e.Created.UTC().Format(time.RFC3339)
		}
		rows = append(rows, r)
	}
	switch output {
	case "json":
		enc := json.NewEncoder(stdio.Out)
		enc.SetIndent("", "    ")
		return enc.Encode(struct {
			Store   string       `json:"Store"`
			Devices []tpmListRow `json:"Devices"`
		}{st.Dir(), rows})
	case "text":
		for _, r := range rows {
			fmt.Fprintf(stdio.Out, "%s\t%s\t%s\t%s\t%t\t%s\n", r.SerialNumber, r.UserName, r.AccountID, r.DeviceName, r.KeyAuth, r.Created)
		}
		return nil
	case "", "table":
		if len(rows) == 0 {
			fmt.Fprintf(stdio.Out, "no devices in the tpm store %s\n", st.Dir())
			return nil
		}
		tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SERIAL\tUSER\tACCOUNT\tAUTHVALUE\tCREATED\tSOURCE")
		for _, r := range rows {
			auth := "no"
			if r.KeyAuth {
				auth = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.SerialNumber, r.UserName, r.AccountID, auth, r.Created, r.Source)
		}
		return tw.Flush()
	}
	return exitf(ExitUsage, "unknown output format %q: use table, text or json", output)
}
