package iamsim

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// SeedBytes is the size of the seeds CreateVirtualMFADevice makes: 40 bytes, 64 base32
// characters without padding, as in every real example.
const SeedBytes = 40

func newSeed() []byte {
	b := make([]byte, SeedBytes)
	_, _ = rand.Read(b)
	return b
}

// encodeSeed renders a seed as unpadded upper-case base32.
func encodeSeed(b []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// OTPAuthURI is the URI the QR code of a virtual device carries, in the form real
// scans show: otpauth://totp/Amazon%20Web%20Services:NAME@ACCOUNT?secret=...&issuer=
// Amazon%20Web%20Services, where ACCOUNT is the alias if set, else the account id.
func OTPAuthURI(deviceName, account, base32Seed string) string {
	label := "Amazon Web Services:" + deviceName + "@" + account
	return "otpauth://totp/" + pathEscape(label) + "?secret=" + base32Seed + "&issuer=" + pathEscape("Amazon Web Services")
}

// pathEscape escapes like url.PathEscape but keeps ':' and '@', as the real URIs do.
func pathEscape(s string) string {
	return strings.NewReplacer("%3A", ":", "%40", "@").Replace(url.PathEscape(s))
}

func qrPNG(uri string) ([]byte, error) {
	return qrcode.Encode(uri, qrcode.Medium, 256)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func unb64(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}

func sortStrings(ss []string) { sort.Strings(ss) }

func searchStrings(ss []string, v string) int { return sort.SearchStrings(ss, v) }
