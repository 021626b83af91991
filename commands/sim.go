package commands

import "github.com/spf13/cobra"

// simRegistry lists the subcommands of `tokenbatch sim`; each file adds its own.
var simRegistry []func(IO) *cobra.Command

func init() {
	register(func(stdio IO) *cobra.Command {
		c := &cobra.Command{
			Use:   "sim",
			Short: "Run the IAM simulator and virtual tokens used by the tests and the demo",
		}
		for _, add := range simRegistry {
			c.AddCommand(add(stdio))
		}
		return c
	})
}
