package token

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// attackCase is one hostile or defective token and the error it must cause.
type attackCase struct {
	name  string
	token string
	now   time.Time
	aud   string // expected audience, default testAudience
	want  error
}

// attackCases builds every attack against a keyring r whose active key is the
// one tokens are signed with. They are shared by the keyring-backed and the
// JWKS-backed verifier tests so both are held to the same standard.
func attackCases(t testing.TB, r *Keyring) []attackCase {
	t.Helper()
	kid, priv := activeKey(r)
	pub := priv.Public().(ed25519.PublicKey)
	good := issue(t, r, t0)
	parts := strings.Split(good, ".")
	h64, p64, s64 := parts[0], parts[1], parts[2]
	claims := goodClaims(t0)
	hdr := goodHeader(kid)

	// unsigned builds header.payload. with an arbitrary signature segment.
	unsigned := func(h, p any, sig string) string { return enc(h) + "." + enc(p) + "." + sig }
	hmacToken := func(key []byte) string {
		input := enc(with(hdr, "alg", "HS256")) + "." + enc(claims)
		m := hmac.New(sha256.New, key)
		m.Write([]byte(input))
		return input + "." + enc(m.Sum(nil))
	}
	jwksDoc, _ := json.Marshal(r.JWKS())

	_, foreign, _ := ed25519.GenerateKey(rand.Reader)

	var cs []attackCase
	add := func(name, tok string, want error) {
		cs = append(cs, attackCase{name: name, token: tok, want: want})
	}

	// alg=none in its usual spellings, with and without a signature.
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		add("alg "+alg+" empty sig", unsigned(with(hdr, "alg", alg), claims, ""), ErrAlgorithm)
		add("alg "+alg+" with sig", unsigned(with(hdr, "alg", alg), claims, s64), ErrAlgorithm)
	}
	// HS256 keyed with the public key in every form an attacker might try:
	// raw bytes, base64url x, the JWK JSON and the whole JWKS document.
	add("HS256 keyed with raw public key", hmacToken(pub), ErrAlgorithm)
	add("HS256 keyed with base64url x", hmacToken([]byte(base64.RawURLEncoding.EncodeToString(pub))), ErrAlgorithm)
	add("HS256 keyed with JWKS document", hmacToken(jwksDoc), ErrAlgorithm)
	for _, alg := range []string{"HS384", "HS512", "RS256", "PS256", "ES256", "ES256K", "Ed25519", "Ed448", "eddsa", "EDDSA", "EdDSA ", " EdDSA", "EdDSA\u0000", ""} {
		add("alg "+alg, signRaw(priv, with(hdr, "alg", alg), claims), ErrAlgorithm)
	}
	add("alg missing", signRaw(priv, with(hdr, "alg", nil), claims), ErrAlgorithm)
	add("alg not a string", signRaw(priv, with(hdr, "alg", 1), claims), ErrMalformed)
	add("alg array", signRaw(priv, with(hdr, "alg", []string{"EdDSA"}), claims), ErrMalformed)
	// encoding/json would map "ALG" onto an "alg" struct field; we must not.
	add("ALG upper-case member", signRaw(priv, `{"ALG":"EdDSA","alg":"none","kid":"`+kid+`","typ":"at+jwt"}`, claims), ErrAlgorithm)
	add("only ALG member", signRaw(priv, `{"ALG":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`, claims), ErrAlgorithm)

	// Key selection.
	add("unknown kid", signRaw(priv, with(hdr, "kid", "no-such-key"), claims), ErrUnknownKey)
	add("missing kid", signRaw(priv, with(hdr, "kid", nil), claims), ErrUnknownKey)
	add("empty kid", signRaw(priv, with(hdr, "kid", ""), claims), ErrUnknownKey)
	add("kid not a string", signRaw(priv, with(hdr, "kid", 7), claims), ErrMalformed)
	add("foreign key claiming our kid", signRaw(foreign, hdr, claims), ErrSignature)
	// An embedded JWK (RFC 7515 jwk header) is ignored: the attacker's key
	// is not used even though the header carries it.
	foreignPub := foreign.Public().(ed25519.PublicKey)
	add("embedded attacker jwk", signRaw(foreign, with(hdr, "jwk", map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(foreignPub)}), claims), ErrSignature)
	add("jku header", signRaw(foreign, with(hdr, "jku", "https://evil.example/jwks"), claims), ErrSignature)

	// Tampering with a genuine token.
	tampered := with(claims, "sub", "admin")
	add("tampered payload", h64+"."+enc(tampered)+"."+s64, ErrSignature)
	add("tampered payload scope", h64+"."+enc(with(claims, "scope", "admin"))+"."+s64, ErrSignature)
	add("payload from another token", h64+"."+strings.Split(issue(t, r, t0), ".")[1]+"."+s64, ErrSignature)
	add("header typ changed", enc(with(hdr, "typ", "JWT"))+"."+p64+"."+s64, ErrSignature)
	add("signature truncated", h64+"."+p64+"."+s64[:len(s64)-4], ErrMalformed)
	add("signature zero", h64+"."+p64+"."+enc(make([]byte, 64)), ErrSignature)
	add("signature empty", h64+"."+p64+".", ErrMalformed)
	add("signature S+L (malleated)", h64+"."+p64+"."+enc(malleate(t, s64)), ErrSignature)
	add("non-canonical signature encoding", h64+"."+p64+"."+flipTrailingBits(s64), ErrMalformed)

	// Time.
	add("expired", signRaw(priv, hdr, with(claims, "iat", t0.Add(-2*time.Hour).Unix(), "nbf", t0.Add(-2*time.Hour).Unix(), "exp", t0.Add(-time.Hour).Unix())), ErrExpired)
	add("nbf in future", signRaw(priv, hdr, with(claims, "nbf", t0.Add(5*time.Minute).Unix())), ErrNotYetValid)
	add("iat in future", signRaw(priv, hdr, with(claims, "iat", t0.Add(5*time.Minute).Unix(), "nbf", nil)), ErrNotYetValid)
	add("iat far future", signRaw(priv, hdr, with(claims, "iat", int64(95617584000), "nbf", nil)), ErrNotYetValid)
	add("iat beyond year 9999", signRaw(priv, hdr, with(claims, "iat", int64(300000000000), "nbf", nil)), ErrMalformed)
	add("exp missing", signRaw(priv, hdr, with(claims, "exp", nil)), ErrMalformed)
	add("iat missing", signRaw(priv, hdr, with(claims, "iat", nil)), ErrMalformed)
	add("exp fractional", signRaw(priv, hdr, strings.Replace(string(mustJSON(claims)), `"exp":`, `"exp":1.5e9,"x":`, 1)), ErrMalformed)
	add("exp string", signRaw(priv, hdr, with(claims, "exp", "tomorrow")), ErrMalformed)
	add("exp negative", signRaw(priv, hdr, with(claims, "exp", -1)), ErrMalformed)

	// Issuer and audience.
	add("wrong iss", signRaw(priv, hdr, with(claims, "iss", "https://evil.example")), ErrIssuer)
	add("iss trailing slash", signRaw(priv, hdr, with(claims, "iss", testIssuer+"/")), ErrIssuer)
	add("iss case", signRaw(priv, hdr, with(claims, "iss", strings.ToUpper(testIssuer))), ErrIssuer)
	add("iss missing", signRaw(priv, hdr, with(claims, "iss", nil)), ErrIssuer)
	add("wrong aud string", signRaw(priv, hdr, with(claims, "aud", "https://storage.photoncloud.test")), ErrAudience)
	add("wrong aud array", signRaw(priv, hdr, with(claims, "aud", []string{"https://storage.photoncloud.test", "https://db.photoncloud.test"})), ErrAudience)
	add("aud empty array", signRaw(priv, hdr, with(claims, "aud", []string{})), ErrAudience)
	add("aud array with empty string", signRaw(priv, hdr, with(claims, "aud", []string{""})), ErrAudience)
	add("aud missing", signRaw(priv, hdr, with(claims, "aud", nil)), ErrAudience)
	add("aud prefix", signRaw(priv, hdr, with(claims, "aud", testAudience[:len(testAudience)-1])), ErrAudience)
	add("aud number", signRaw(priv, hdr, with(claims, "aud", 5)), ErrMalformed)
	add("aud nested array", signRaw(priv, hdr, with(claims, "aud", [][]string{{testAudience}})), ErrMalformed)

	// Token type confusion.
	add("token_use refresh", signRaw(priv, hdr, with(claims, "token_use", "refresh")), ErrTokenType)
	add("token_use id", signRaw(priv, hdr, with(claims, "token_use", "id")), ErrTokenType)
	add("token_use missing", signRaw(priv, hdr, with(claims, "token_use", nil)), ErrTokenType)
	add("token_use case", signRaw(priv, hdr, with(claims, "token_use", "Access")), ErrTokenType)
	add("typ JWT", signRaw(priv, with(hdr, "typ", "JWT"), claims), ErrTokenType)
	add("typ refresh", signRaw(priv, with(hdr, "typ", "rt+jwt"), claims), ErrTokenType)
	add("typ missing", signRaw(priv, with(hdr, "typ", nil), claims), ErrTokenType)
	add("typ not a string", signRaw(priv, with(hdr, "typ", true), claims), ErrMalformed)

	// Structure and size.
	add("crit header", signRaw(priv, with(hdr, "crit", []string{"exp"}, "exp", 1), claims), ErrMalformed)
	add("crit b64 unencoded payload", signRaw(priv, with(hdr, "crit", []string{"b64"}, "b64", false), claims), ErrMalformed)
	add("header not object", signRaw(priv, `"EdDSA"`, claims), ErrMalformed)
	add("header null", signRaw(priv, `null`, claims), ErrMalformed)
	add("header not json", signRaw(priv, `{alg:EdDSA}`, claims), ErrMalformed)
	add("payload not json", signRaw(priv, hdr, "not json"), ErrMalformed)
	add("payload array", signRaw(priv, hdr, `[1,2]`), ErrMalformed)
	add("sub missing", signRaw(priv, hdr, with(claims, "sub", nil)), ErrMalformed)
	add("jti missing", signRaw(priv, hdr, with(claims, "jti", nil)), ErrMalformed)
	add("oversized", good+strings.Repeat("A", MaxTokenBytes), ErrMalformed)
	add("oversized by one", signedOfSize(priv, hdr, claims, MaxTokenBytes+1), ErrMalformed)
	add("empty", "", ErrMalformed)
	add("one segment", h64, ErrMalformed)
	add("two segments", h64+"."+p64, ErrMalformed)
	add("four segments", good+".x", ErrMalformed)
	add("trailing dot", good+".", ErrMalformed)
	add("trailing garbage char", good+"x", ErrMalformed)
	add("trailing garbage block", good+"AAAA", ErrMalformed)
	add("trailing space", good+" ", ErrMalformed)
	add("trailing newline", good+"\n", ErrMalformed)
	add("embedded newline in signature", h64+"."+p64+"."+s64[:10]+"\n"+s64[10:], ErrMalformed)
	add("leading space", " "+good, ErrMalformed)
	add("padding", good+"==", ErrMalformed)
	add("bearer prefix", "Bearer "+good, ErrMalformed)
	add("std base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good)+"+/", ErrMalformed)
	add("JWS JSON serialisation", `{"protected":"`+h64+`","payload":"`+p64+`","signature":"`+s64+`"}`, ErrMalformed)
	return cs
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// malleate returns R || (S + L), the classic Ed25519 signature malleation that
// a verifier must reject (RFC 8032 §5.1.7 requires S < L).
func malleate(t testing.TB, s64 string) []byte {
	t.Helper()
	sig, err := base64.RawURLEncoding.DecodeString(s64)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) *big.Int { // little-endian to big.Int
		r := make([]byte, len(b))
		for i := range b {
			r[len(b)-1-i] = b[i]
		}
		return new(big.Int).SetBytes(r)
	}
	s := new(big.Int).Add(le(sig[32:]), l)
	be := s.FillBytes(make([]byte, 32))
	out := append([]byte(nil), sig[:32]...)
	for i := 31; i >= 0; i-- {
		out = append(out, be[i])
	}
	return out
}

// flipTrailingBits changes the unused low bits of the last base64 character,
// giving a different string that lenient decoders map to the same bytes.
func flipTrailingBits(s64 string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s64[len(s64)-1])
	// 64 bytes -> 86 chars; the last char carries 2 data bits and 4 unused.
	return s64[:len(s64)-1] + string(alphabet[last^1])
}

// signedOfSize returns a genuinely signed token padded (via extra members)
// to exactly n bytes, to show the size bound applies to authentic tokens too.
// Base64 lengths move in steps of 1 or 2, so the header is padded as well to
// reach every n.
func signedOfSize(priv ed25519.PrivateKey, hdr, claims map[string]any, n int) string {
	base := len(signRaw(priv, hdr, claims))
	for hp := 0; hp < 4; hp++ {
		h := with(hdr, "hp", strings.Repeat("x", hp))
		for pp := max(0, (n-base)*3/4-64); ; pp++ {
			tok := signRaw(priv, h, with(claims, "pad", strings.Repeat("x", pp)))
			if len(tok) == n {
				return tok
			}
			if len(tok) > n {
				break
			}
		}
	}
	panic("signedOfSize: no padding reaches the requested length")
}

func TestAttacksKeyringVerifier(t *testing.T) {
	r := newRing(t)
	runAttacks(t, r, verifier(t, r, VerifyOptions{}))
}

func TestAttacksJWKSVerifier(t *testing.T) {
	r := newRing(t)
	runAttacks(t, r, jwksVerifier(t, r, VerifyOptions{}))
}

func runAttacks(t *testing.T, r *Keyring, v *Verifier) {
	t.Helper()
	// Sanity: the untouched token verifies, so each failure below is caused
	// by the one change the case makes.
	if _, err := v.Verify(issue(t, r, t0), t0, testIssuer, testAudience); err != nil {
		t.Fatalf("baseline token rejected: %v", err)
	}
	_, priv := activeKey(r)
	kid, _ := activeKey(r)
	if _, err := v.Verify(signRaw(priv, goodHeader(kid), goodClaims(t0)), t0, testIssuer, testAudience); err != nil {
		t.Fatalf("baseline hand-made token rejected: %v", err)
	}
	for _, c := range attackCases(t, r) {
		t.Run(c.name, func(t *testing.T) {
			now := c.now
			if now.IsZero() {
				now = t0
			}
			aud := c.aud
			if aud == "" {
				aud = testAudience
			}
			claims, err := v.Verify(c.token, now, testIssuer, aud)
			if err == nil {
				t.Fatalf("accepted (claims %+v); want %v", claims, c.want)
			}
			if claims != nil {
				t.Errorf("claims returned alongside error")
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v; want %v", err, c.want)
			}
			if n := sentinelCount(err); n != 1 {
				t.Fatalf("err %v wraps %d sentinels, want 1", err, n)
			}
		})
	}
}

func TestSignedOfSizeHelper(t *testing.T) {
	r := newRing(t)
	kid, priv := activeKey(r)
	if got := len(signedOfSize(priv, goodHeader(kid), goodClaims(t0), MaxTokenBytes+1)); got != MaxTokenBytes+1 {
		t.Fatalf("helper produced %d bytes", got)
	}
	// And a token exactly at the limit is accepted: the bound is inclusive.
	tok := signedOfSize(priv, goodHeader(kid), goodClaims(t0), MaxTokenBytes)
	if len(tok) != MaxTokenBytes {
		t.Fatalf("helper produced %d bytes", len(tok))
	}
	if _, err := verifier(t, r, VerifyOptions{}).Verify(tok, t0, testIssuer, testAudience); err != nil {
		t.Fatalf("token of exactly MaxTokenBytes rejected: %v", err)
	}
}

func TestAcceptedVariants(t *testing.T) {
	r := newRing(t)
	v := verifier(t, r, VerifyOptions{})
	kid, priv := activeKey(r)
	hdr, claims := goodHeader(kid), goodClaims(t0)
	for name, tok := range map[string]string{
		"aud array containing expected": signRaw(priv, hdr, with(claims, "aud", []string{"https://other.test", testAudience})),
		"typ application/at+jwt":        signRaw(priv, with(hdr, "typ", "application/at+jwt"), claims),
		"typ upper case":                signRaw(priv, with(hdr, "typ", "AT+JWT"), claims),
		"no nbf":                        signRaw(priv, hdr, with(claims, "nbf", nil)),
		"unknown extra claims":          signRaw(priv, hdr, with(claims, "x-extra", map[string]any{"a": 1})),
		"unknown extra header":          signRaw(priv, with(hdr, "x-hint", "ok"), claims),
	} {
		if _, err := v.Verify(tok, t0, testIssuer, testAudience); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLeeway(t *testing.T) {
	r := newRing(t)
	kid, priv := activeKey(r)
	exp := t0.Add(10 * time.Minute)
	tok := signRaw(priv, goodHeader(kid), goodClaims(t0))

	strict := verifier(t, r, VerifyOptions{Leeway: NoLeeway})
	def := verifier(t, r, VerifyOptions{})
	wide := verifier(t, r, VerifyOptions{Leeway: MaxLeeway})

	check := func(v *Verifier, now time.Time, want error) {
		t.Helper()
		_, err := v.Verify(tok, now, testIssuer, testAudience)
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("at %v: err = %v, want %v", now.Sub(t0), err, want)
		}
	}
	// exp: valid strictly before exp (RFC 7519 §4.1.4).
	check(strict, exp.Add(-time.Second), nil)
	check(strict, exp, ErrExpired)
	check(def, exp.Add(DefaultLeeway-time.Second), nil)
	check(def, exp.Add(DefaultLeeway), ErrExpired)
	check(wide, exp.Add(59*time.Second), nil)
	check(wide, exp.Add(60*time.Second), ErrExpired)
	// nbf/iat = t0: a verifier whose clock is a little behind still accepts
	// within leeway.
	check(strict, t0.Add(-time.Second), ErrNotYetValid)
	check(def, t0.Add(-DefaultLeeway), nil)
	check(def, t0.Add(-DefaultLeeway-time.Second), ErrNotYetValid)

	for _, bad := range []time.Duration{MaxLeeway + time.Second, -2 * time.Second, time.Hour} {
		if _, err := r.Verifier(VerifyOptions{Leeway: bad}); err == nil {
			t.Errorf("leeway %v accepted", bad)
		}
		if _, err := NewJWKSVerifier(mustJSON(r.JWKS()), VerifyOptions{Leeway: bad}); err == nil {
			t.Errorf("JWKS leeway %v accepted", bad)
		}
	}
}

func TestVerifyRequiresExpectations(t *testing.T) {
	r := newRing(t)
	v := verifier(t, r, VerifyOptions{})
	tok := issue(t, r, t0)
	// An empty expected audience must not turn the check off (the
	// CVE-2020-26160 failure mode was an aud check that passed vacuously).
	for _, c := range [][2]string{{"", testAudience}, {testIssuer, ""}} {
		if _, err := v.Verify(tok, t0, c[0], c[1]); err == nil {
			t.Errorf("Verify with issuer %q audience %q succeeded", c[0], c[1])
		}
	}
}

func TestVerifyReturnsClaims(t *testing.T) {
	r := newRing(t)
	v := verifier(t, r, VerifyOptions{})
	tok, issued, err := r.IssueAccessToken(t0, defaultRequest())
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(tok, t0.Add(time.Minute), testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "user-123" || got.Issuer != testIssuer || got.ClientID != "console" ||
		got.Scope != "compute.read compute.write" || got.PrincipalKind != PrincipalUser ||
		got.TokenUse != TokenUseAccess || got.ID == "" || got.ID != issued.ID ||
		!got.ExpiresAt.Equal(t0.Add(10*time.Minute)) || !got.IssuedAt.Equal(t0) || !got.NotBefore.Equal(t0) ||
		len(got.Audience) != 1 || got.Audience[0] != testAudience {
		t.Fatalf("claims %+v", got)
	}
}
