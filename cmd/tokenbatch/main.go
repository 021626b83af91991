// Command tokenbatch resyncs, provisions and audits AWS IAM MFA devices in bulk.
package main

import (
	"os"

	"github.com/tokenbatch/tokenbatch/commands"
)

func main() {
	os.Exit(commands.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
