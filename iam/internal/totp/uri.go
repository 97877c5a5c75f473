package totp

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ProvisioningURI returns the otpauth:// URI (usually shown as a QR code) for
// enrolling secret in an authenticator app, in the Key URI format popularised
// by Google Authenticator:
//
//	otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
//
// The issuer appears both as the label prefix and as the issuer parameter,
// as that format recommends, so apps that read either show the same name.
// Neither issuer nor account may contain ':' (the format has no way to escape
// the label separator), and both must be non-empty.
//
// Values are percent-encoded with spaces as %20 rather than '+': the URI is
// not a form submission, and several authenticator apps show a literal '+'.
func (c Config) ProvisioningURI(secret, issuer, account string) (string, error) {
	if err := c.validate(); err != nil {
		return "", err
	}
	if _, err := DecodeSecret(secret); err != nil {
		return "", err
	}
	if issuer == "" || account == "" {
		return "", fmt.Errorf("totp: provisioning URI: issuer and account must be non-empty")
	}
	if strings.Contains(issuer, ":") || strings.Contains(account, ":") {
		return "", fmt.Errorf("totp: provisioning URI: issuer and account must not contain ':'")
	}
	if hasControl(issuer) || hasControl(account) {
		return "", fmt.Errorf("totp: provisioning URI: issuer and account must not contain control characters")
	}

	label := escape(issuer) + ":" + escape(account)
	// The parameters are written in a fixed order, secret first, which keeps
	// the output stable for tests and matches the format's examples.
	q := []string{
		"secret=" + strings.ToUpper(strings.TrimRight(strings.ReplaceAll(secret, " ", ""), "=")),
		"issuer=" + escape(issuer),
		"algorithm=" + c.Algorithm.String(),
		"digits=" + strconv.Itoa(c.Digits),
		"period=" + strconv.Itoa(int(c.Period.Seconds())),
	}
	return "otpauth://totp/" + label + "?" + strings.Join(q, "&"), nil
}

// ProvisioningURI returns the URI for DefaultConfig; see
// Config.ProvisioningURI.
func ProvisioningURI(secret, issuer, account string) (string, error) {
	return DefaultConfig().ProvisioningURI(secret, issuer, account)
}

// escape percent-encodes s for both the label and query values. QueryEscape
// encodes every reserved character (including '/', '?', '&', '=', '#', ':'
// and '+'), so the only fix-up needed is turning its '+' for space into %20;
// a literal '+' was already encoded as %2B and cannot be confused with it.
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
