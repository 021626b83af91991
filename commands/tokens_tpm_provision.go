package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/spf13/cobra"

	"github.com/tokenbatch/tokenbatch/awscfg"
	"github.com/tokenbatch/tokenbatch/executor"
	"github.com/tokenbatch/tokenbatch/tpmtoken"
)

// tokensProvisionTPMOptions are the options of `tokens provision-tpm`.
type tokensProvisionTPMOptions struct {
	AWS        awscfg.Options
	TPM        tpmOptions
	UserName   string
	DeviceName string
	Path       string
}

func init() {
	tokensRegistry = append(tokensRegistry, func(stdio IO) *cobra.Command {
		o := &tokensProvisionTPMOptions{}
		c := &cobra.Command{
			Use:   "provision-tpm --user-name USER --device-name NAME",
			Short: "Create a virtual MFA device whose seed goes straight into the TPM, and enable it",
			Long: `Create a virtual MFA device in IAM, import its seed into the TPM as a key that
cannot leave it, and enable the device for the user with two consecutive codes the
TPM computes. The seed exists only in memory, for as long as the import takes. If a
step fails, what was done is undone: the device is deleted in IAM and the key blob
removed from the store.`,
			Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				return runTokensProvisionTPM(c.Context(), stdio, o)
			},
		}
		fs := c.Flags()
		fs.StringVar(&o.UserName, "user-name", "", "the IAM user to enable the device for")
		fs.StringVar(&o.DeviceName, "device-name", "", "the virtual MFA device's name")
		fs.StringVar(&o.Path, "path", "", "the device's IAM path (default /)")
		c.MarkFlagRequired("user-name")
		c.MarkFlagRequired("device-name")
		o.TPM.addFlags(fs)
		o.AWS.AddFlags(fs)
		return c
	})
}

var (
	iamUserName   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	iamDeviceName = regexp.MustCompile(`^[\w+=,.@-]{1,226}$`)
	iamPath       = regexp.MustCompile(`^/([\x21-\x7e]{0,510}/)?$`)
)

func runTokensProvisionTPM(ctx context.Context, stdio IO, o *tokensProvisionTPMOptions) error {
	switch {
	case !iamUserName.MatchString(o.UserName):
		return exitf(ExitUsage, "invalid --user-name %q: 1 to 64 letters, digits or +=,.@_-", o.UserName)
	case !iamDeviceName.MatchString(o.DeviceName):
		return exitf(ExitUsage, "invalid --device-name %q: 1 to 226 letters, digits or +=,.@_-", o.DeviceName)
	case o.Path != "" && !iamPath.MatchString(o.Path):
		return exitf(ExitUsage, "invalid --path %q: it must begin and end with /", o.Path)
	}
	// Everything local is checked before IAM is touched, so that a TPM or store
	// problem leaves nothing to undo.
	st, err := tpmtoken.OpenStore(o.TPM.Store, true)
	if err != nil {
		return tpmExit(err)
	}
	var keyAuth []byte
	if o.TPM.KeyAuth {
		if keyAuth, err = o.TPM.secret(stdio, "New TPM key authValue: ", true, true); err != nil {
			return tpmExit(err)
		}
		defer clear(keyAuth)
	}
	tpm, err := tpmtoken.Open(o.TPM.Device)
	if err != nil {
		return tpmExit(err)
	}
	defer tpm.Close()

	cfg, err := o.AWS.Load(ctx)
	if err != nil {
		return exitf(ExitConfig, "loading the aws configuration: %v", err)
	}
	clock := &executor.Clock{}
	client := iam.NewFromConfig(cfg, func(opt *iam.Options) {
		opt.APIOptions = append(opt.APIOptions, clock.AddMiddleware)
		if o.AWS.Debug {
			// Logs operations and headers only: the response body holds the seed.
			log := slog.New(slog.NewTextHandler(stdio.ErrOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
			opt.APIOptions = append(opt.APIOptions, executor.DebugMiddleware(log))
		}
	})

	in := &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String(o.DeviceName)}
	if o.Path != "" {
		in.Path = aws.String(o.Path)
	}
	out, err := client.CreateVirtualMFADevice(ctx, in)
	if err != nil {
		return tpmExit(fmt.Errorf("creating the virtual mfa device: %w", err))
	}
	dev := out.VirtualMFADevice
	if dev == nil || dev.SerialNumber == nil {
		return exitf(ExitService, "creating the virtual mfa device: the response has no serial number")
	}
	serial := aws.ToString(dev.SerialNumber)
	seed, err := tpmtoken.ParseSeed(dev.Base32StringSeed)
	// The response's copies of the seed (the QR code holds it too) are not needed again.
	clear(dev.Base32StringSeed)
	clear(dev.QRCodePNG)
	if err != nil {
		return undoProvision(client, st, serial, false, fmt.Errorf("reading the seed in iam's response: %w", err))
	}
	e, err := tpmtoken.Enroll(tpm, st, tpmtoken.Entry{SerialNumber: serial, UserName: o.UserName, Source: "provision-tpm"}, seed, keyAuth)
	clear(seed)
	if err != nil {
		return undoProvision(client, st, serial, false, err)
	}
	code1, code2, err := tpm.EntryCodes(e, keyAuth, clock.Now())
	if err != nil {
		return undoProvision(client, st, serial, true, err)
	}
	_, err = client.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{
		UserName: aws.String(o.UserName), SerialNumber: aws.String(serial),
		AuthenticationCode1: aws.String(code1), AuthenticationCode2: aws.String(code2),
	})
	if err != nil {
		return undoProvision(client, st, serial, true, fmt.Errorf("enabling %s for %s: %w", serial, o.UserName, err))
	}
	fmt.Fprintf(stdio.Out, "%s\tenabled for %s; key held in the tpm (store %s)\n", serial, o.UserName, st.Dir())
	return nil
}

// undoProvision deletes the device in IAM, and its blob if one was stored, after
// cause. It runs even when ctx was cancelled, so an interrupt leaves nothing behind.
func undoProvision(client *iam.Client, st *tpmtoken.Store, serial string, stored bool, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if stored {
		if err := st.Delete(serial); err != nil {
			errs = append(errs, fmt.Errorf("removing the key blob: %w", err))
		}
	}
	if _, err := client.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(serial)}); err != nil {
		errs = append(errs, fmt.Errorf("deleting the device: %w; delete it with 'aws iam delete-virtual-mfa-device --serial-number %s'", err, serial))
	}
	if len(errs) > 0 {
		return tpmExit(fmt.Errorf("%w; undoing failed too: %w", cause, errors.Join(errs...)))
	}
	return tpmExit(fmt.Errorf("%w (the device was deleted again)", cause))
}
