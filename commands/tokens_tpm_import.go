package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/tokenbatch/tokenbatch/tpmtoken"
)

// tokensImportTPMOptions are the options of `tokens import-tpm`.
type tokensImportTPMOptions struct {
	TPM      tpmOptions
	Serial   string
	UserName string
	SeedFile string // a path, or "-" for standard input
}

func init() {
	tokensRegistry = append(tokensRegistry, func(stdio IO) *cobra.Command {
		o := &tokensImportTPMOptions{}
		c := &cobra.Command{
			Use:   "import-tpm --serial SERIAL --user-name USER --seed-file FILE|-",
			Short: "Move an existing virtual MFA device's seed into the TPM",
			Long: `Import the seed of an existing virtual MFA device (its Base32StringSeed, as IAM
returned it) into the TPM as a key that cannot leave it, so that 'run --from-tpm'
can resync the device from this machine. The seed file is read, never modified or
copied; destroy it afterwards, since anyone holding it can compute codes.`,
			Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				return runTokensImportTPM(c.Context(), stdio, o)
			},
		}
		fs := c.Flags()
		fs.StringVar(&o.Serial, "serial", "", "the device's serial number (arn:aws:iam::ACCOUNT:mfa/NAME)")
		fs.StringVar(&o.UserName, "user-name", "", "the IAM user the device is enabled for")
		fs.StringVar(&o.SeedFile, "seed-file", "", "file holding the base32 seed, or - for standard input")
		c.MarkFlagRequired("serial")
		c.MarkFlagRequired("user-name")
		c.MarkFlagRequired("seed-file")
		o.TPM.addFlags(fs)
		return c
	})
}

var virtualMFASerial = regexp.MustCompile(`^arn:aws[\w-]*:iam::\d{12}:mfa(/[\x21-\x7e]*)?/[\w+=,.@-]{1,226}$`)

// maxSeedFile bounds what is read: a seed is 64 characters, so anything much larger
// is the wrong file.
const maxSeedFile = 4096

func runTokensImportTPM(ctx context.Context, stdio IO, o *tokensImportTPMOptions) error {
	switch {
	case !virtualMFASerial.MatchString(o.Serial):
		return exitf(ExitUsage, "invalid --serial %q: give a virtual mfa device's arn, arn:aws:iam::ACCOUNT:mfa/NAME", o.Serial)
	case !iamUserName.MatchString(o.UserName):
		return exitf(ExitUsage, "invalid --user-name %q: 1 to 64 letters, digits or +=,.@_-", o.UserName)
	case o.SeedFile == "":
		return exitf(ExitUsage, "--seed-file is empty: give a file, or - for standard input")
	}
	text, err := readSeedFile(stdio, o.SeedFile)
	if err != nil {
		return err
	}
	seed, err := tpmtoken.ParseSeed(text)
	clear(text)
	if err != nil {
		return tpmExit(fmt.Errorf("%s: %w", seedName(o.SeedFile), err))
	}
	defer clear(seed)

	st, err := tpmtoken.OpenStore(o.TPM.Store, true)
	if err != nil {
		return tpmExit(err)
	}
	var keyAuth []byte
	if o.TPM.KeyAuth {
		// With --seed-file -, standard input held the seed, so prompt on the terminal.
		if keyAuth, err = o.TPM.secret(stdio, "New TPM key authValue: ", true, o.SeedFile != "-"); err != nil {
			return tpmExit(err)
		}
		defer clear(keyAuth)
	}
	tpm, err := tpmtoken.Open(o.TPM.Device)
	if err != nil {
		return tpmExit(err)
	}
	defer tpm.Close()
	e, err := tpmtoken.Enroll(tpm, st, tpmtoken.Entry{SerialNumber: o.Serial, UserName: o.UserName, Source: "import-tpm"}, seed, keyAuth)
	if err != nil {
		return tpmExit(err)
	}
	// Check the TPM's key against the seed still in memory, before the seed's only
	// other copy is destroyed on the strength of this import.
	if err := verifyImport(tpm, e, seed, keyAuth); err != nil {
		st.Delete(e.SerialNumber)
		return tpmExit(err)
	}
	fmt.Fprintf(stdio.Out, "%s\timported for %s; key held in the tpm (store %s)\n", e.SerialNumber, e.UserName, st.Dir())
	if o.SeedFile == "-" {
		fmt.Fprintln(stdio.ErrOut, "note: destroy every other copy of the seed: anyone holding it can compute codes without the tpm")
	} else {
		fmt.Fprintf(stdio.ErrOut, "note: destroy %s (e.g. shred -u %s) and every other copy of the seed: anyone holding it can compute codes without the tpm\n", o.SeedFile, o.SeedFile)
	}
	return nil
}

func seedName(f string) string {
	if f == "-" {
		return "standard input"
	}
	return f
}

// readSeedFile reads the seed text without changing or copying the file.
func readSeedFile(stdio IO, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		if stdio.In == nil {
			return nil, exitf(ExitUsage, "--seed-file -: no standard input")
		}
		r = stdio.In
	} else {
		f, err := os.Open(name)
		if err != nil {
			// *PathError names the file and the cause; it holds no content.
			return nil, exitf(ExitUsage, "opening the seed file: %v; check --seed-file", err)
		}
		defer f.Close()
		r = f
	}
	buf := make([]byte, maxSeedFile+1)
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		clear(buf)
		return nil, exitf(ExitUsage, "reading %s: %v", seedName(name), err)
	}
	if n > maxSeedFile {
		clear(buf)
		return nil, exitf(ExitUsage, "%s is over %d bytes; a seed is 64 base32 characters: is it the right file?", seedName(name), maxSeedFile)
	}
	return buf[:n], nil
}

// verifyImport compares the TPM's code with the one computed from the seed.
func verifyImport(tpm *tpmtoken.TPM, e tpmtoken.Entry, seed, keyAuth []byte) error {
	const step = 1
	codes, err := tpm.Codes(e.Key, keyAuth, tpmtoken.Digits, step)
	if err != nil {
		return err
	}
	want, err := tpmtoken.SeedCode(seed, step, tpmtoken.Digits)
	if err != nil {
		return err
	}
	if codes[0] != want {
		return errors.New("the tpm's key does not compute the seed's codes; the import was removed, keep the seed")
	}
	return nil
}
