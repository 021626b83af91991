package commands

import (
	"fmt"

	"github.com/spf13/cobra"
)

// completionOptions are the options of `tokenbatch completion SHELL`.
type completionOptions struct {
	Shell         string
	NoDescription bool
}

func init() {
	register(func(stdio IO) *cobra.Command {
		o := &completionOptions{}
		c := &cobra.Command{
			Use:   "completion bash|zsh|fish|powershell",
			Short: "Print the shell completion script for bash, zsh, fish or PowerShell",
			Long: `Prints a completion script for the shell named. Load it with, for example:

  bash:  source <(tokenbatch completion bash)
         (or save it as /etc/bash_completion.d/tokenbatch; needs bash-completion 2)
  zsh:   tokenbatch completion zsh > "${fpath[1]}/_tokenbatch"
  fish:  tokenbatch completion fish > ~/.config/fish/completions/tokenbatch.fish`,
			Args:                  cobra.ExactArgs(1),
			ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
			DisableFlagsInUseLine: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				o.Shell = args[0]
				return runCompletion(cmd.Root(), stdio, o)
			},
		}
		c.Flags().BoolVar(&o.NoDescription, "no-descriptions", false, "leave out the descriptions of completions")
		return c
	})
}

func runCompletion(root *cobra.Command, stdio IO, o *completionOptions) error {
	desc := !o.NoDescription
	var err error
	switch o.Shell {
	case "bash":
		err = root.GenBashCompletionV2(stdio.Out, desc)
	case "zsh":
		if desc {
			err = root.GenZshCompletion(stdio.Out)
		} else {
			err = root.GenZshCompletionNoDesc(stdio.Out)
		}
	case "fish":
		err = root.GenFishCompletion(stdio.Out, desc)
	case "powershell":
		if desc {
			err = root.GenPowerShellCompletionWithDesc(stdio.Out)
		} else {
			err = root.GenPowerShellCompletion(stdio.Out)
		}
	default:
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("unknown shell %q: want bash, zsh, fish or powershell", o.Shell)}
	}
	if err != nil {
		return &ExitError{Code: ExitOther, Err: fmt.Errorf("writing the %s completion script: %w", o.Shell, err)}
	}
	return nil
}
