package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"testing"
	"time"
)

const (
	testIssuer   = "https://iam.photoncloud.test"
	testAudience = "https://compute.photoncloud.test"
)

// t0 is a fixed "now" so tests do not depend on the wall clock.
var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func newRing(t testing.TB) *Keyring {
	t.Helper()
	r, err := NewKeyring(t0, KeyringOptions{SigningLifetime: 24 * time.Hour, MaxTokenTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func verifier(t testing.TB, r *Keyring, opts VerifyOptions) *Verifier {
	t.Helper()
	v, err := r.Verifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func jwksVerifier(t testing.TB, r *Keyring, opts VerifyOptions) *Verifier {
	t.Helper()
	doc, err := json.Marshal(r.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewJWKSVerifier(doc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func defaultRequest() AccessTokenRequest {
	return AccessTokenRequest{
		Issuer:        testIssuer,
		Subject:       "user-123",
		Audience:      []string{testAudience},
		TTL:           10 * time.Minute,
		Scope:         "compute.read compute.write",
		ClientID:      "console",
		PrincipalKind: PrincipalUser,
	}
}

func issue(t testing.TB, r *Keyring, now time.Time) string {
	t.Helper()
	tok, _, err := r.IssueAccessToken(now, defaultRequest())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func enc(v any) string {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	case string:
		b = []byte(x)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// signRaw builds a compact JWS by hand, signing header and payload (any JSON
// value, or raw bytes/strings used verbatim) with priv. Tests use it to
// construct tokens our issuer would never produce.
func signRaw(priv ed25519.PrivateKey, header, payload any) string {
	input := enc(header) + "." + enc(payload)
	return input + "." + enc(ed25519.Sign(priv, []byte(input)))
}

func goodHeader(kid string) map[string]any {
	return map[string]any{"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}
}

func goodClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"sub":       "user-123",
		"aud":       testAudience,
		"exp":       now.Add(10 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"jti":       "jti-1",
		"token_use": "access",
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
		} else {
			out[k] = kv[i+1]
		}
	}
	return out
}

// activeKey returns the keyring's active private key, for hand-made tokens.
func activeKey(r *Keyring) (string, ed25519.PrivateKey) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys[0].kid, r.keys[0].priv
}

// allSentinels are the verification errors; every Verify failure on token
// input must wrap exactly one of them.
var allSentinels = []error{ErrMalformed, ErrAlgorithm, ErrUnknownKey, ErrSignature, ErrExpired, ErrNotYetValid, ErrIssuer, ErrAudience, ErrTokenType}

func sentinelCount(err error) int {
	n := 0
	for _, s := range allSentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}
