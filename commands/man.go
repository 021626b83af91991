package commands

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// manOptions are the options of `tokenbatch man`.
type manOptions struct {
	Dir     string
	Section string
}

func init() {
	register(func(stdio IO) *cobra.Command {
		o := &manOptions{}
		c := &cobra.Command{
			Use:   "man --dir DIR",
			Short: "Write a man page for every command into a directory",
			Long: `Writes tokenbatch.1 and one page per command (tokenbatch-resync-mfa-device.1, ...)
into DIR, generated from the commands' help. SOURCE_DATE_EPOCH, when set, dates the
pages, so that builds are reproducible.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				return runMan(cmd.Root(), stdio, o)
			},
		}
		c.Flags().StringVar(&o.Dir, "dir", "", "directory to write the pages into (created if missing)")
		c.Flags().StringVar(&o.Section, "section", "1", "manual section")
		_ = c.MarkFlagRequired("dir")
		_ = c.MarkFlagDirname("dir")
		return c
	})
}

func runMan(root *cobra.Command, stdio IO, o *manOptions) error {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return &ExitError{Code: ExitOther, Err: fmt.Errorf("creating the man page directory: %w", err)}
	}
	header := &doc.GenManHeader{
		Title:   "TOKENBATCH",
		Section: o.Section,
		Source:  "tokenbatch " + Version,
		Manual:  "tokenbatch manual",
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			t := time.Unix(sec, 0).UTC()
			header.Date = &t
		}
	}
	root.DisableAutoGenTag = true
	if err := doc.GenManTree(root, header, o.Dir); err != nil {
		return &ExitError{Code: ExitOther, Err: fmt.Errorf("writing man pages into %s: %w", o.Dir, err)}
	}
	fmt.Fprintf(stdio.ErrOut, "wrote man pages into %s\n", o.Dir)
	return nil
}
