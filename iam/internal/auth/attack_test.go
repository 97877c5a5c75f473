package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/photoncloud/core/iam/internal/store"
	"github.com/photoncloud/core/iam/internal/token"
)

func b64json(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestAuthenticateRejectsAttacks runs the token attacks of the issue against
// the path every IAM RPC uses to authenticate callers. The token package
// tests the verifier exhaustively; this checks that the service wires it
// with the right issuer, audience and principal checks.
func TestAuthenticateRejectsAttacks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	f.addUser(t, "ivan", "correct horse battery")
	ts, err := f.svc.Login(ctx, LoginRequest{Username: "ivan", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, ts.AccessToken); err != nil {
		t.Fatalf("genuine token refused: %v", err)
	}
	parts := strings.Split(ts.AccessToken, ".")
	var hdr map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(raw, &hdr)
	var claims map[string]any
	raw, _ = base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(raw, &claims)
	kid := hdr["kid"].(string)

	with := func(m map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for kk, vv := range m {
			out[kk] = vv
		}
		out[k] = v
		return out
	}
	// HS256 keyed with the public key from the JWKS (key confusion).
	jwks := f.svc.Keyring().JWKS()
	pub := jwks.Keys[0].Key
	pubBytes, _ := json.Marshal(pub)
	hsHeader := b64json(t, map[string]any{"alg": "HS256", "kid": kid, "typ": "at+jwt"})
	mac := hmac.New(sha256.New, pubBytes)
	mac.Write([]byte(hsHeader + "." + parts[1]))
	hs := hsHeader + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	// Tokens this issuer really signed, but wrong for IAM.
	issue := func(req token.AccessTokenRequest, now time.Time) string {
		tok, _, err := f.svc.Keyring().IssueAccessToken(now, req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	base := token.AccessTokenRequest{Issuer: "http://iam.test", Subject: "usr_ivan", Audience: []string{"photoncloud"},
		TTL: time.Minute, PrincipalKind: store.KindUser}
	wrongAud := base
	wrongAud.Audience = []string{"other", "another"}
	wrongIss := base
	wrongIss.Issuer = "http://evil.test"
	ghost := base
	ghost.Subject = "usr_ghost"
	sa := base
	sa.Subject, sa.PrincipalKind = "sa_deleted", store.KindServiceAccount

	attacks := map[string]string{
		"alg none":          b64json(t, with(hdr, "alg", "none")) + "." + parts[1] + ".",
		"hs256 public key":  hs,
		"unknown kid":       b64json(t, with(hdr, "kid", "AAAAAAAAAAAAAAAAAAAAAA")) + "." + parts[1] + "." + parts[2],
		"tampered payload":  parts[0] + "." + b64json(t, with(claims, "sub", "usr_admin")) + "." + parts[2],
		"expired":           issue(base, f.clock().Add(-2*time.Hour)),
		"not yet valid":     issue(base, f.clock().Add(2*time.Hour)),
		"wrong aud array":   issue(wrongAud, f.clock()),
		"wrong issuer":      issue(wrongIss, f.clock()),
		"refresh as access": ts.RefreshToken,
		"unknown subject":   issue(ghost, f.clock()),
		"deleted sa":        issue(sa, f.clock()),
		"empty":             "",
	}
	for name, tok := range attacks {
		if _, err := f.svc.Authenticate(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
		if name == "refresh as access" {
			continue // introspection legitimately describes refresh tokens
		}
		if in, err := f.svc.Introspect(ctx, tok); err != nil || in.Active {
			t.Errorf("%s: introspection = %+v, %v; want inactive", name, in, err)
		}
	}
}

// TestKeyRotationKeepsOldTokens: tokens signed before a rotation still
// authenticate, new ones carry the new kid.
func TestKeyRotationKeepsOldTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	f.addUser(t, "judy", "correct horse battery")
	before, err := f.svc.Login(ctx, LoginRequest{Username: "judy", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	kid, err := f.svc.Keyring().Rotate(f.clock())
	if err != nil {
		t.Fatal(err)
	}
	after, err := f.svc.Login(ctx, LoginRequest{Username: "judy", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{before.AccessToken, after.AccessToken} {
		if _, err := f.svc.Authenticate(ctx, tok); err != nil {
			t.Fatalf("token refused after rotation: %v", err)
		}
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(after.AccessToken, ".")[0])
	if !strings.Contains(string(hdr), `"kid":"`+kid+`"`) {
		t.Fatalf("new token header %s lacks new kid %s", hdr, kid)
	}
}

// TestRotateKeysPersists: a rotation is saved, so a restart keeps signing
// with the new key; an unforced call before the deadline changes nothing.
func TestRotateKeysPersists(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	if kid, err := f.svc.RotateKeys(ctx, false); err != nil || kid != "" {
		t.Fatalf("unforced rotation of a fresh key: %q %v", kid, err)
	}
	kid, err := f.svc.RotateKeys(ctx, true)
	if err != nil || kid == "" {
		t.Fatalf("forced rotation: %q %v", kid, err)
	}
	data, err := f.store.LoadOrCreateKeyring(ctx, func() ([]byte, error) { return nil, errors.New("keyring was not saved") })
	if err != nil {
		t.Fatal(err)
	}
	reloaded, err := token.Unmarshal(data, token.KeyringOptions{})
	if err != nil || reloaded.ActiveKeyID() != kid || len(reloaded.Keys()) != 2 {
		t.Fatalf("reloaded keyring: active %q, %d keys, %v", reloaded.ActiveKeyID(), len(reloaded.Keys()), err)
	}
}
