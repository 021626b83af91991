package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/spf13/cobra"

	"github.com/tokenbatch/tokenbatch/awscfg"
	"github.com/tokenbatch/tokenbatch/ykoath"
	"github.com/tokenbatch/tokenbatch/yubikey"
)

// tokensListOptions are the flags of `tokenbatch tokens list`.
type tokensListOptions struct {
	yubikeyOptions
	TPM      bool
	TPMStore string
	Output   string
	NoMap    bool
	AWS      awscfg.Options

	// iam replaces the client built from AWS (tests).
	iam yubikey.IAMAPI
}

var tokensListFormats = []string{"table", "json", "text"}

func init() {
	tokensRegistry = append(tokensRegistry, func(stdio IO) *cobra.Command {
		o := &tokensListOptions{}
		c := &cobra.Command{
			Use:   "list [--device SERIAL]... [--tpm]",
			Short: "List attached YubiKeys, their attestation and OATH credentials, and the IAM device each maps to",
			Long: `List the attached YubiKeys (or those given with --device): serial, firmware, the
attestation result ("genuine YubiKey 5, present" when a PIV slot's attestation chains to
Yubico's roots, or --attestation-roots, and the slot signed a fresh challenge; otherwise
"unattested"), and each OATH credential with the IAM virtual MFA device it maps to
(read-only IAM listings; --no-map skips them). Codes are never shown. With --tpm, list
the devices of the TPM store instead. See docs/yubikey.md.`,
			Example: `  tokenbatch tokens list
  tokenbatch tokens list --device 12345678 --output json
  tokenbatch tokens list --allow-virtual-readers --attestation-roots test-ca.pem`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				o.AWS.Stdin, o.AWS.Stderr = stdio.In, stdio.ErrOut
				return runTokensList(cmd.Context(), stdio, o)
			},
		}
		f := c.Flags()
		o.addFlags(f)
		f.BoolVar(&o.TPM, "tpm", false, "list the devices held in the TPM store instead of YubiKeys")
		f.StringVar(&o.TPMStore, "tpm-store", "", "with --tpm, the store directory (default $XDG_DATA_HOME/tokenbatch/tpm)")
		f.StringVar(&o.Output, "output", "table", "output: table, json or text")
		f.BoolVar(&o.NoMap, "no-map", false, "do not ask IAM which device each credential maps to")
		o.AWS.AddFlags(f)
		return c
	})
}

// listedCredential is a credential as `tokens list` shows it: no code.
type listedCredential struct {
	Name         string `json:"Name"`
	Type         string `json:"Type"`
	Touch        bool   `json:"Touch"`
	SerialNumber string `json:"SerialNumber,omitempty"`
	UserName     string `json:"UserName,omitempty"`
	Problem      string `json:"Problem,omitempty"`
}

type listedKey struct {
	Serial            string             `json:"Serial"`
	Firmware          string             `json:"Firmware"`
	Attestation       string             `json:"Attestation"`
	AttestationDetail string             `json:"AttestationDetail,omitempty"`
	Reader            string             `json:"Reader"`
	PasswordProtected bool               `json:"PasswordProtected"`
	Credentials       []listedCredential `json:"Credentials"`
}

// runTokensList is `tokenbatch tokens list`.
func runTokensList(ctx context.Context, stdio IO, o *tokensListOptions) error {
	if !slices.Contains(tokensListFormats, o.Output) {
		return exitf(ExitUsage, "--output %q: want table, json or text", o.Output)
	}
	if o.TPM {
		return runTokensListTPM(ctx, stdio, o.TPMStore, o.Output)
	}
	opts, err := o.options(stdio)
	if err != nil {
		return err
	}
	keys, problems, err := yubikey.ListKeys(ctx, opts)
	if err != nil {
		return yubikeyExit(err)
	}
	for _, p := range problems {
		fmt.Fprintf(stdio.ErrOut, "tokenbatch: %v\n", p)
	}

	var mapErr error
	var resolver *yubikey.Resolver
	if !o.NoMap {
		client := o.iam
		if client == nil {
			cfg, err := o.AWS.Load(ctx)
			if err == nil {
				client = iam.NewFromConfig(cfg, func(o *iam.Options) { o.Retryer = awscfg.ReadRetryer() })
			} else {
				mapErr = err
			}
		}
		if client != nil {
			resolver, mapErr = yubikey.NewResolver(ctx, client, "", opts.Mapping)
		}
	}

	var listed []listedKey
	for _, k := range keys {
		lk := listedKey{Serial: k.SerialString(), Firmware: k.Firmware, Attestation: k.Attestation,
			AttestationDetail: k.AttestationDetail, Reader: k.Reader, PasswordProtected: k.Locked}
		for _, c := range k.Credentials {
			lc := listedCredential{Name: c.Name, Type: c.Type.String(), Touch: k.Touch[c.Name]}
			switch {
			case c.Type != ykoath.TOTP:
				lc.Problem = "not TOTP: cannot serve an IAM virtual MFA device"
			case resolver != nil:
				t, err := resolver.Resolve(ctx, k.SerialString(), c.Name)
				if err != nil && !errors.Is(err, yubikey.ErrUnmapped) && !errors.Is(err, yubikey.ErrUnassigned) && !errors.Is(err, yubikey.ErrOtherAccount) {
					mapErr, resolver = err, nil
					break
				}
				if err != nil {
					lc.Problem = err.Error()
				}
				lc.SerialNumber, lc.UserName = t.SerialNumber, t.UserName
			}
			lk.Credentials = append(lk.Credentials, lc)
		}
		listed = append(listed, lk)
	}
	if err := printTokensList(stdio, listed, o.Output); err != nil {
		return &ExitError{Code: ExitOther, Err: err}
	}
	if mapErr != nil {
		d := awscfg.Describe(mapErr, "ListVirtualMFADevices")
		return &ExitError{Code: d.Code, Err: fmt.Errorf("cannot map the credentials to IAM devices: %s\ngive --no-map to list the keys only", d.Message)}
	}
	if len(problems) > 0 {
		return &ExitError{Code: ExitIncomplete}
	}
	return nil
}

func printTokensList(stdio IO, keys []listedKey, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(stdio.Out)
		enc.SetIndent("", "    ")
		return enc.Encode(struct {
			Keys []listedKey `json:"Keys"`
		}{keys})
	case "text":
		for _, k := range keys {
			for _, c := range k.Credentials {
				fmt.Fprintf(stdio.Out, "%s\t%s\t%s\t%s\t%t\t%s\t%s\n", k.Serial, k.Firmware, k.Attestation, c.Name, c.Touch, c.SerialNumber, c.UserName)
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "YUBIKEY\tFIRMWARE\tATTESTATION\tREADER")
	for _, k := range keys {
		att := k.Attestation
		if k.AttestationDetail != "" {
			att += " (" + k.AttestationDetail + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Serial, k.Firmware, att, k.Reader)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdio.Out)
	tw = tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "YUBIKEY\tCREDENTIAL\tTOUCH\tIAM DEVICE\tUSER")
	for _, k := range keys {
		for _, c := range k.Credentials {
			dev := c.SerialNumber
			if c.Problem != "" {
				dev = "- (" + c.Problem + ")"
			}
			touch := "no"
			if c.Touch {
				touch = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Serial, c.Name, touch, dev, c.UserName)
		}
	}
	return tw.Flush()
}
