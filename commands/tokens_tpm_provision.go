package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
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
step fails, what was done is undone: the device is deleted in IAM, then the key blob
removed from the store. A device that turns out enabled (IAM's answer to the enable
was lost) is kept, and so is its key.`,
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
	// plan's rule, held to the 64 characters of names CreateUser allows: the device
	// is enabled for an existing user.
	iamUserName   = iamUserNameRule{max: 64}
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

	// The SDK's --debug log (awscfg.Load) redacts the seed, codes and signatures, and
	// the mfa_serial prompt of a profile goes where the rest of the command's I/O goes.
	if o.AWS.Stdin == nil {
		o.AWS.Stdin = stdio.In
	}
	if o.AWS.Stderr == nil {
		o.AWS.Stderr = stdio.ErrOut
	}
	cfg, err := o.AWS.Load(ctx)
	if err != nil {
		return planAWSExit(err, "")
	}
	if err := awscfg.Retrieve(ctx, cfg); err != nil {
		return planAWSExit(err, "")
	}
	clock := &executor.Clock{}
	client := iam.NewFromConfig(cfg, func(opt *iam.Options) {
		opt.APIOptions = append(opt.APIOptions, clock.AddMiddleware)
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
		return undoProvision(client, st, o.UserName, serial, false, fmt.Errorf("reading the seed in iam's response: %w", err))
	}
	e, err := tpmtoken.Enroll(tpm, st, tpmtoken.Entry{SerialNumber: serial, UserName: o.UserName, Source: "provision-tpm"}, seed, keyAuth)
	clear(seed)
	if err != nil {
		return undoProvision(client, st, o.UserName, serial, false, err)
	}
	code1, code2, err := tpm.EntryCodes(e, keyAuth, clock.Now())
	if err != nil {
		return undoProvision(client, st, o.UserName, serial, true, err)
	}
	_, err = client.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{
		UserName: aws.String(o.UserName), SerialNumber: aws.String(serial),
		AuthenticationCode1: aws.String(code1), AuthenticationCode2: aws.String(code2),
	})
	if err != nil {
		err = fmt.Errorf("enabling %s for %s: %w", serial, o.UserName, err)
		// Without IAM's answer the enable may have gone through: then the device is in
		// use and the key is its only source of codes, so both stay.
		if !rejected(err) && enabledFor(client, o.UserName, serial) {
			fmt.Fprintf(stdio.ErrOut, "tokenbatch: %v; but iam lists the device as enabled, so it is kept\n", err)
		} else {
			return undoProvision(client, st, o.UserName, serial, true, err)
		}
	}
	fmt.Fprintf(stdio.Out, "%s\tenabled for %s; key held in the tpm (store %s)\n", serial, o.UserName, st.Dir())
	return nil
}

// rejected reports whether IAM answered a call with a client error (4xx), which it
// returns without applying the call. Anything else (no answer, a 5xx, an interrupt)
// may have applied.
func rejected(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500
}

// enabledFor asks IAM whether serial is enabled for user. It runs even when the
// command's context was cancelled, so that an interrupt cannot orphan the device.
func enabledFor(client *iam.Client, user, serial string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A user has at most 8 mfa devices: one page holds them all.
	out, err := client.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String(user)})
	if err != nil {
		return false
	}
	for _, d := range out.MFADevices {
		if aws.ToString(d.SerialNumber) == serial {
			return true
		}
	}
	return false
}

// undoProvision deletes the device in IAM, then its blob if one was stored, after
// cause. It runs even when ctx was cancelled, so an interrupt leaves nothing behind.
// The blob goes only once IAM's delete succeeded: a device that is still there may be
// enabled, and then the blob is the only way to produce its codes.
func undoProvision(client *iam.Client, st *tpmtoken.Store, user, serial string, stored bool, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(serial)})
	var api smithy.APIError
	switch {
	case err == nil:
	case errors.As(err, &api) && api.ErrorCode() == "DeleteConflict":
		// IAM refuses to delete a device that is enabled: the enable went through.
		kept := ""
		if stored {
			kept = "; its key is kept in the tpm store, so its codes still work"
		}
		return tpmExit(fmt.Errorf("%w; but iam says the device is in use, so it was not deleted%s; "+
			"check with 'aws iam list-mfa-devices --user-name %s'", cause, kept, user))
	default:
		kept := ""
		if stored {
			kept = fmt.Sprintf(", then 'tokenbatch tokens delete-tpm --serial %s'", serial)
		}
		return tpmExit(fmt.Errorf("%w; undoing failed too: deleting the device: %w; its key, if stored, is kept; "+
			"delete the device with 'aws iam delete-virtual-mfa-device --serial-number %s'%s", cause, err, serial, kept))
	}
	if stored {
		if err := st.Delete(serial); err != nil {
			return tpmExit(fmt.Errorf("%w (the device was deleted again); undoing failed too: removing the key blob: %w; "+
				"remove it with 'tokenbatch tokens delete-tpm --serial %s'", cause, err, serial))
		}
	}
	return tpmExit(fmt.Errorf("%w (the device was deleted again)", cause))
}
