package commands

import "github.com/spf13/cobra"

// tokensRegistry lists the subcommands of `tokenbatch tokens`; each file adds its own.
var tokensRegistry []func(IO) *cobra.Command

func init() {
	register(func(stdio IO) *cobra.Command {
		c := &cobra.Command{
			Use:   "tokens",
			Short: "List, provision and import hardware-held MFA tokens (YubiKeys, TPM)",
		}
		for _, add := range tokensRegistry {
			c.AddCommand(add(stdio))
		}
		return c
	})
}
