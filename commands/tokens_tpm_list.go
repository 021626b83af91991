package commands

import (
	"context"
	"errors"
)

// runTokensListTPM prints the devices held in a TPM store, without secrets.
// `tokens list --tpm` calls it.
func runTokensListTPM(ctx context.Context, stdio IO, store, output string) error {
	return errors.New("tpm store listing is not implemented yet")
}
