package commands

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tokenbatch/tokenbatch/tpmtoken"
)

// tokensDeleteTPMOptions are the options of `tokens delete-tpm`.
type tokensDeleteTPMOptions struct {
	Store  string
	Serial string
}

func init() {
	tokensRegistry = append(tokensRegistry, func(stdio IO) *cobra.Command {
		o := &tokensDeleteTPMOptions{}
		c := &cobra.Command{
			Use:   "delete-tpm --serial SERIAL",
			Short: "Remove a device's TPM key from the store (the device in IAM stays)",
			Long: `Remove a device's TPM-wrapped key from the store. The key cannot be recovered:
unless the seed is held elsewhere, the device can no longer give codes and must be
deactivated and replaced in IAM. The device in IAM is not changed.`,
			Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				return runTokensDeleteTPM(c.Context(), stdio, o)
			},
		}
		c.Flags().StringVar(&o.Serial, "serial", "", "the device's serial number")
		c.MarkFlagRequired("serial")
		c.Flags().StringVar(&o.Store, "tpm-store", "", "directory of TPM-wrapped keys (default $XDG_DATA_HOME/tokenbatch/tpm)")
		return c
	})
}

func runTokensDeleteTPM(ctx context.Context, stdio IO, o *tokensDeleteTPMOptions) error {
	st, err := tpmtoken.OpenStore(o.Store, false)
	if err != nil {
		return tpmExit(err)
	}
	if _, err := st.Get(o.Serial); err != nil {
		return tpmExit(err)
	}
	if err := st.Delete(o.Serial); err != nil {
		return tpmExit(err)
	}
	fmt.Fprintf(stdio.Out, "%s\tremoved from the tpm store %s; the device in iam is unchanged\n", o.Serial, st.Dir())
	return nil
}
