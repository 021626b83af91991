package yubikey

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokenbatch/tokenbatch/plan"
	"github.com/tokenbatch/tokenbatch/ykoath"
)

// Mapped is one credential on a key and what it maps to.
type Mapped struct {
	Key        *Key
	Credential ykoath.Credential
	Target     Target // empty when Err is set
	Err        error  // wraps ErrUnmapped, ErrUnassigned or ErrOtherAccount
}

// MapCredentials resolves every TOTP credential of keys (HOTP ones cannot serve a
// virtual MFA device and are left out).
func MapCredentials(ctx context.Context, r *Resolver, keys []*Key) ([]Mapped, error) {
	var out []Mapped
	for _, k := range keys {
		for _, c := range k.Credentials {
			if c.Type != ykoath.TOTP {
				continue
			}
			t, err := r.Resolve(ctx, k.SerialString(), c.Name)
			if err != nil && !errors.Is(err, ErrUnmapped) && !errors.Is(err, ErrUnassigned) && !errors.Is(err, ErrOtherAccount) {
				return nil, err // IAM could not be read
			}
			out = append(out, Mapped{Key: k, Credential: c, Target: t, Err: err})
		}
	}
	return out, nil
}

// Problem codes of Discover's problems.
const (
	ProblemKey        = "yubikey_unreadable"
	ProblemUnmapped   = "unmapped_credential"
	ProblemUnassigned = "unassigned_device"
	ProblemOther      = "other_account"
	ProblemDuplicate  = "duplicate_device"
)

// Discover finds the attached keys (opts.Devices, or all), maps their credentials to
// IAM devices through client, and returns the devices to resync with a Source that
// computes their codes when the executor asks. Devices whose credentials need a touch
// come last. Keys that cannot be read and credentials that map to no device (or to one
// of another account) are problems, not devices: nothing is sent for them. The caller
// closes the Source.
func Discover(ctx context.Context, opts Options, client IAMAPI) ([]plan.Device, *Source, []plan.Problem, error) {
	keys, keyErrs, err := ListKeys(ctx, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	var problems []plan.Problem
	for _, e := range keyErrs {
		problems = append(problems, plan.Problem{File: "tokens", Severity: plan.Error, Code: ProblemKey, Message: e.Error()})
	}
	r, err := NewResolver(ctx, client, opts.AccountID, opts.Mapping)
	if err != nil {
		return nil, nil, nil, err
	}
	mapped, err := MapCredentials(ctx, r, keys)
	if err != nil {
		return nil, nil, nil, err
	}
	var devices, touch []plan.Device
	seen := map[string]string{}
	for _, m := range mapped {
		where := fmt.Sprintf("yubikey %s, credential %q", m.Key.SerialString(), m.Credential.Name)
		if m.Err != nil {
			code := ProblemUnmapped
			switch {
			case errors.Is(m.Err, ErrOtherAccount):
				code = ProblemOther
			case errors.Is(m.Err, ErrUnassigned):
				code = ProblemUnassigned
			}
			problems = append(problems, plan.Problem{File: "tokens", Severity: plan.Warning, Code: code,
				Message: fmt.Sprintf("%s: %v; not sent", where, m.Err)})
			continue
		}
		if first, dup := seen[m.Target.SerialNumber]; dup {
			problems = append(problems, plan.Problem{File: "tokens", Severity: plan.Error, Code: ProblemDuplicate,
				UserName: m.Target.UserName, SerialNumber: m.Target.SerialNumber,
				Message: fmt.Sprintf("%s maps to %s, as %s does; only the first is sent", where, m.Target.SerialNumber, first)})
			continue
		}
		seen[m.Target.SerialNumber] = where
		d := plan.Device{
			UserName:     m.Target.UserName,
			SerialNumber: m.Target.SerialNumber,
			AccountID:    m.Target.AccountID,
			Token: &plan.Token{Kind: "yubikey", Serial: m.Key.SerialString(), Credential: m.Credential.Name,
				Attestation: m.Key.Attestation},
		}
		if m.Key.Touch[m.Credential.Name] {
			touch = append(touch, d)
		} else {
			devices = append(devices, d)
		}
	}
	return append(devices, touch...), NewSource(keys, opts), problems, nil
}
