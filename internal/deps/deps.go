//go:build tools

// Package deps pins the project's named dependencies in go.mod before code uses them.
package deps

import (
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	_ "github.com/aws/aws-sdk-go-v2/service/iam"
	_ "github.com/aws/aws-sdk-go-v2/service/sts"
	_ "github.com/aws/smithy-go"
	_ "github.com/go-piv/piv-go/v2/piv"
	_ "github.com/gocarina/gocsv"
	_ "github.com/google/go-tpm/tpm2"
	_ "github.com/jmespath/go-jmespath"
	_ "github.com/pquerna/otp/totp"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/skip2/go-qrcode"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/cobra/doc"
	_ "github.com/vbauerster/mpb/v8"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
	_ "golang.org/x/time/rate"
)
