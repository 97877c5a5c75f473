package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fuzzKeyring is deterministic so that every fuzz worker process holds the
// same key as the coordinator that built the seed corpus.
func fuzzKeyring(tb testing.TB) (*Keyring, ed25519.PrivateKey) {
	tb.Helper()
	seed := sha256.Sum256([]byte("photoncloud token fuzz key"))
	blob := fmt.Sprintf(`{"version":1,"keys":[{"kid":"fuzzkey","seed":%q,"created_at":%q,"sign_not_after":%q,"max_token_ttl_seconds":3600}]}`,
		base64.RawURLEncoding.EncodeToString(seed[:]), t0.Format(time.RFC3339), t0.Add(24*time.Hour).Format(time.RFC3339))
	r, err := Unmarshal([]byte(blob), KeyringOptions{SigningLifetime: 24 * time.Hour, MaxTokenTTL: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	_, priv := activeKey(r)
	return r, priv
}

// FuzzVerify feeds arbitrary strings to both verifiers. Properties:
//   - no panic;
//   - every rejection wraps exactly one of the sentinel errors;
//   - both verifiers agree on accept/reject (they share one key);
//   - anything accepted carries exactly the one canonical signature for its
//     signing input (Ed25519 signatures are deterministic), i.e. no
//     alternative spelling of a token is accepted.
func FuzzVerify(f *testing.F) {
	r, priv := fuzzKeyring(f)
	kid := r.ActiveKeyID()
	f.Add(signRaw(priv, goodHeader(kid), goodClaims(t0)))
	f.Add(issue(f, r, t0))
	for _, c := range attackCases(f, r) {
		f.Add(c.token)
	}
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Add(strings.Repeat(".", 100))

	kv := verifier(f, r, VerifyOptions{})
	jv := jwksVerifier(f, r, VerifyOptions{})

	f.Fuzz(func(t *testing.T, tok string) {
		c1, err1 := kv.Verify(tok, t0, testIssuer, testAudience)
		_, err2 := jv.Verify(tok, t0, testIssuer, testAudience)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("verifiers disagree: keyring %v, jwks %v", err1, err2)
		}
		if err1 != nil {
			if c1 != nil {
				t.Fatal("claims returned with error")
			}
			if n := sentinelCount(err1); n != 1 {
				t.Fatalf("error %v wraps %d sentinels", err1, n)
			}
			if n := sentinelCount(err2); n != 1 {
				t.Fatalf("error %v wraps %d sentinels", err2, n)
			}
			return
		}
		dot := strings.LastIndexByte(tok, '.')
		input := tok[:dot]
		want := input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(input)))
		if tok != want {
			t.Fatalf("accepted a non-canonical token:\n%q\nwant\n%q", tok, want)
		}
		if c1.Subject == "" || c1.TokenUse != TokenUseAccess || c1.Issuer != testIssuer {
			t.Fatalf("accepted claims %+v", c1)
		}
	})
}

// FuzzJWKS checks NewJWKSVerifier never panics and never accepts a set that
// yields no key.
func FuzzJWKS(f *testing.F) {
	r := newRing(f)
	f.Add(mustJSON(r.JWKS()))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, err := NewJWKSVerifier(doc, VerifyOptions{})
		if err == nil && len(v.KeyIDs()) == 0 {
			t.Fatal("verifier with no keys")
		}
	})
}
