package plan

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/tokenbatch/tokenbatch/reader"
)

// IAMReader is the read-only part of *iam.Client that CheckIAM uses: listings, read
// page by page rather than one call per row, and nothing that changes IAM.
type IAMReader interface {
	ListUsers(context.Context, *iam.ListUsersInput, ...func(*iam.Options)) (*iam.ListUsersOutput, error)
	ListVirtualMFADevices(context.Context, *iam.ListVirtualMFADevicesInput, ...func(*iam.Options)) (*iam.ListVirtualMFADevicesOutput, error)
	ListMFADevices(context.Context, *iam.ListMFADevicesInput, ...func(*iam.Options)) (*iam.ListMFADevicesOutput, error)
}

// ErrIAMCheck wraps a failed IAM listing during CheckIAM.
var ErrIAMCheck = errors.New("check IAM")

const pageSize = 1000 // IAM's largest MaxItems

// checkIAM confirms that each valid row's user exists and that the serial is that
// user's device. Users and virtual devices are listed once for the account; devices
// that are not virtual (hardware TOTP) are listed per user, only for users that have one.
func (b *builder) checkIAM(ctx context.Context) error {
	api := b.opts.IAM
	users := map[string]bool{} // lower-case: IAM user names are case-insensitive
	up := iam.NewListUsersPaginator(api, &iam.ListUsersInput{MaxItems: aws.Int32(pageSize)})
	for up.HasMorePages() {
		out, err := up.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("%w: list users: %w", ErrIAMCheck, err)
		}
		for _, u := range out.Users {
			users[strings.ToLower(aws.ToString(u.UserName))] = true
		}
	}
	virtual := map[string]string{} // lower-case serial -> assigned user, "" if unassigned
	vp := iam.NewListVirtualMFADevicesPaginator(api, &iam.ListVirtualMFADevicesInput{
		AssignmentStatus: types.AssignmentStatusTypeAny, MaxItems: aws.Int32(pageSize)})
	for vp.HasMorePages() {
		out, err := vp.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("%w: list virtual MFA devices: %w", ErrIAMCheck, err)
		}
		for _, d := range out.VirtualMFADevices {
			owner := ""
			if d.User != nil {
				owner = aws.ToString(d.User.UserName)
			}
			virtual[strings.ToLower(aws.ToString(d.SerialNumber))] = owner
		}
	}
	st := &b.p.st
	// Devices not in the virtual listing: list the user's devices (hardware included).
	byUser := map[string]map[string]bool{}
	for i := 0; i < st.n; i++ {
		e := st.at(i)
		if e.flags&flagInvalid != 0 {
			continue
		}
		user := st.user(e)
		if !users[strings.ToLower(user)] {
			continue
		}
		if _, ok := virtual[strings.ToLower(st.serial(e))]; !ok {
			byUser[user] = nil
		}
	}
	for user := range byUser {
		serials := map[string]bool{}
		mp := iam.NewListMFADevicesPaginator(api, &iam.ListMFADevicesInput{UserName: aws.String(user), MaxItems: aws.Int32(pageSize)})
		for mp.HasMorePages() {
			out, err := mp.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("%w: list MFA devices of %s: %w", ErrIAMCheck, user, err)
			}
			for _, d := range out.MFADevices {
				serials[strings.ToLower(aws.ToString(d.SerialNumber))] = true
			}
		}
		byUser[user] = serials
	}
	where := "account " + b.p.AccountID
	if b.p.AccountID == "" {
		where = "the account"
	}
	for i := 0; i < st.n; i++ {
		e := st.at(i)
		if e.flags&flagInvalid != 0 {
			continue
		}
		user, serial := st.user(e), st.serial(e)
		r := row{line: int(e.line), user: user, serial: serial, token: st.tokens[i]}
		owner, isVirtual := virtual[strings.ToLower(serial)]
		switch {
		case !users[strings.ToLower(user)]:
			b.rowProblem(&r, Error, reader.ColUserName, "unknown_user", "no IAM user %s in %s", user, where)
		case isVirtual && owner == "":
			b.rowProblem(&r, Error, reader.ColSerialNumber, "unassigned_device",
				"the virtual MFA device is not assigned to any user; enable it first")
		case isVirtual && !strings.EqualFold(owner, user):
			b.rowProblem(&r, Error, reader.ColSerialNumber, "other_users_device",
				"the device is assigned to user %s, not %s", owner, user)
		case !isVirtual && !byUser[user][strings.ToLower(serial)]:
			b.rowProblem(&r, Error, reader.ColSerialNumber, "unknown_device",
				"user %s has no MFA device with this serial number", user)
		}
		if r.invalid {
			e.flags |= flagInvalid
			e.flags &^= flagCodes
		}
	}
	return nil
}
