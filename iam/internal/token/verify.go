package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	// MaxTokenBytes bounds the token size accepted by Verify. Our tokens are
	// a few hundred bytes; the bound stops oversized input before any
	// decoding or allocation proportional to it.
	MaxTokenBytes = 8 << 10

	// DefaultLeeway is the clock-skew allowance applied to exp, nbf and iat
	// when VerifyOptions.Leeway is zero. Issuer and verifiers run on
	// different hosts; without some allowance a token checked a moment
	// after issue on a host whose clock is slightly behind would be "not yet
	// valid". 30 s is well inside what NTP-synchronised hosts need and adds
	// little to a token lifetime measured in minutes.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway caps the allowance; more would mostly extend stolen tokens.
	MaxLeeway = 60 * time.Second
	// NoLeeway, as VerifyOptions.Leeway, disables the allowance.
	NoLeeway time.Duration = -1

	// maxNumericDate (year 9999) keeps claim times in a range where time
	// arithmetic cannot overflow.
	maxNumericDate = 253402300799

	// maxJWKSBytes bounds a JWKS document handed to NewJWKSVerifier.
	maxJWKSBytes = 1 << 20
)

// b64 decodes JWS segments. Strict rejects non-zero trailing bits; the
// caller separately rejects '\r' and '\n', which Go's decoder would skip.
var b64 = base64.RawURLEncoding.Strict()

// VerifyOptions configure a Verifier.
type VerifyOptions struct {
	// Leeway is the clock-skew allowance for exp, nbf and iat: a token is
	// accepted until exp+Leeway, from nbf-Leeway, and with iat up to Leeway
	// in the future. Zero means DefaultLeeway, NoLeeway means none, and
	// values above MaxLeeway are refused.
	Leeway time.Duration
}

func (o VerifyOptions) leeway() (time.Duration, error) {
	switch {
	case o.Leeway == 0:
		return DefaultLeeway, nil
	case o.Leeway == NoLeeway:
		return 0, nil
	case o.Leeway < 0 || o.Leeway > MaxLeeway:
		return 0, fmt.Errorf("token: leeway %v outside [0,%v]", o.Leeway, MaxLeeway)
	}
	return o.Leeway, nil
}

// keySource resolves a kid to a public key at a given time. It returns an
// error wrapping ErrUnknownKey if it has no usable key.
type keySource interface {
	lookup(kid string, now time.Time) (ed25519.PublicKey, error)
}

// Verifier checks access tokens. It is safe for concurrent use.
type Verifier struct {
	keys   keySource
	leeway time.Duration
}

// Verifier returns a Verifier backed by the live keyring: rotations and
// prunes take effect immediately, and keys past their retireAfter are refused
// even before Prune removes them.
func (r *Keyring) Verifier(opts VerifyOptions) (*Verifier, error) {
	l, err := opts.leeway()
	if err != nil {
		return nil, err
	}
	return &Verifier{keys: r, leeway: l}, nil
}

// Verify checks token at time now for the given issuer and audience and
// returns its claims. See the package documentation for the order of checks.
// Errors wrap one of ErrMalformed, ErrAlgorithm, ErrUnknownKey, ErrSignature,
// ErrExpired, ErrNotYetValid, ErrIssuer, ErrAudience or ErrTokenType; an
// empty issuer or audience argument is a programming error and also fails.
func (v *Verifier) Verify(token string, now time.Time, issuer, audience string) (*Claims, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("token: verify: expected issuer and audience must be set")
	}

	// 1. Size, before anything else touches the input.
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(token), MaxTokenBytes)
	}

	// 2. Shape: three segments over the base64url alphabet and nothing else
	// (no padding, no white space, no line breaks).
	for i := 0; i < len(token); i++ {
		if c := token[i]; c != '.' && !isB64URL(c) {
			return nil, fmt.Errorf("%w: invalid character at offset %d", ErrMalformed, i)
		}
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, fmt.Errorf("%w: want three dot-separated segments", ErrMalformed)
	}

	// 3. Header: algorithm first.
	hdr, err := parseHeader(h64)
	if err != nil {
		return nil, err
	}

	// 4. Key, chosen only by kid from our own key source.
	if hdr.kid == "" {
		return nil, fmt.Errorf("%w: no kid in header", ErrUnknownKey)
	}
	pub, err := v.keys.lookup(hdr.kid, now)
	if err != nil {
		return nil, err
	}

	// 5. Signature over the exact received "header.payload" bytes.
	sig, err := b64.DecodeString(s64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature segment is not a %d-byte Ed25519 signature", ErrMalformed, ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, []byte(token[:len(h64)+1+len(p64)]), sig) {
		return nil, fmt.Errorf("%w: kid %s", ErrSignature, hdr.kid)
	}

	// 6. Claims. Everything from here on was signed by a key we trust.
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return nil, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	var wc wireClaims
	if err := json.Unmarshal(payload, &wc); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	if err := v.checkClaims(hdr, &wc, now, issuer, audience); err != nil {
		return nil, err
	}
	return toClaims(&wc), nil
}

// header holds the fields of the JOSE header we act on.
type header struct {
	alg, kid, typ string
}

// parseHeader decodes the header and enforces the algorithm allowlist. It
// reads members by exact name from a map because encoding/json matches
// struct fields case-insensitively, and "ALG" is not "alg".
func parseHeader(h64 string) (header, error) {
	raw, err := b64.DecodeString(h64)
	if err != nil {
		return header{}, fmt.Errorf("%w: header encoding", ErrMalformed)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return header{}, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	str := func(name string) (string, bool, error) {
		v, ok := m[name]
		if !ok {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", true, fmt.Errorf("%w: header %q is not a string", ErrMalformed, name)
		}
		return s, true, nil
	}

	var h header
	alg, present, err := str("alg")
	if err != nil {
		return header{}, err
	}
	if !present || alg != string(jose.EdDSA) {
		return header{}, fmt.Errorf("%w: %q", ErrAlgorithm, truncate(alg))
	}
	h.alg = alg
	if _, ok := m["crit"]; ok {
		// RFC 7515 §4.1.11: extensions listed in crit must be understood;
		// we understand none.
		return header{}, fmt.Errorf("%w: critical header extensions are not supported", ErrMalformed)
	}
	if h.kid, _, err = str("kid"); err != nil {
		return header{}, err
	}
	if h.typ, _, err = str("typ"); err != nil {
		return header{}, err
	}
	return h, nil
}

func (v *Verifier) checkClaims(h header, wc *wireClaims, now time.Time, issuer, audience string) error {
	// Token type first: a refresh or ID token signed by the same key must
	// fail as the wrong kind of token, whatever else it says. RFC 9068 §4
	// says typ is compared case-insensitively and may carry the
	// "application/" prefix.
	typ := strings.ToLower(h.typ)
	if typ != typeAccessToken && typ != "application/"+typeAccessToken {
		return fmt.Errorf("%w: typ %q", ErrTokenType, truncate(h.typ))
	}
	if wc.TokenUse != TokenUseAccess {
		return fmt.Errorf("%w: token_use %q", ErrTokenType, truncate(wc.TokenUse))
	}

	if wc.Sub == "" || wc.Jti == "" {
		return fmt.Errorf("%w: sub and jti are required", ErrMalformed)
	}
	if wc.Exp == nil || wc.Iat == nil {
		return fmt.Errorf("%w: exp and iat are required", ErrMalformed)
	}
	for _, t := range []*int64{wc.Exp, wc.Iat, wc.Nbf} {
		if t != nil && (*t < 0 || *t > maxNumericDate) {
			return fmt.Errorf("%w: time claim out of range", ErrMalformed)
		}
	}

	if wc.Iss != issuer {
		return fmt.Errorf("%w: %q", ErrIssuer, truncate(wc.Iss))
	}
	found := false
	for _, a := range wc.Aud {
		if a == audience {
			found = true
			break
		}
	}
	if !found {
		return fmt.Errorf("%w: %q not among %d audience(s)", ErrAudience, truncate(audience), len(wc.Aud))
	}

	exp := time.Unix(*wc.Exp, 0)
	if !now.Before(exp.Add(v.leeway)) {
		return fmt.Errorf("%w: at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	if wc.Nbf != nil {
		if nbf := time.Unix(*wc.Nbf, 0); now.Add(v.leeway).Before(nbf) {
			return fmt.Errorf("%w: nbf %s", ErrNotYetValid, nbf.UTC().Format(time.RFC3339))
		}
	}
	if iat := time.Unix(*wc.Iat, 0); now.Add(v.leeway).Before(iat) {
		return fmt.Errorf("%w: issued in the future (%s)", ErrNotYetValid, iat.UTC().Format(time.RFC3339))
	}
	return nil
}

// jwksKeys is a key source built from a JWKS document.
type jwksKeys map[string]ed25519.PublicKey

func (j jwksKeys) lookup(kid string, _ time.Time) (ed25519.PublicKey, error) {
	if k, ok := j[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, truncate(kid))
}

// NewJWKSVerifier returns a Verifier that uses only the public keys in a JWK
// Set document (as served at the IAM's jwks_uri), for services other than
// IAM. It applies the same checks as the keyring-backed verifier, except that
// it knows nothing of key retirement beyond what the issuer publishes.
//
// Only OKP/Ed25519 keys with a kid are used; keys of other types, or whose
// alg or use say they are not EdDSA signing keys, are skipped (RFC 7517 §5
// says to ignore keys one does not understand), but a set with no usable key
// is an error. A set containing private key material, a duplicate kid or a
// malformed Ed25519 key is refused outright: it means the publisher is broken.
//
// The returned Verifier is immutable. To follow rotations, fetch the JWKS
// again (for example when Verify reports ErrUnknownKey, rate-limited) and
// swap in a new Verifier, e.g. with atomic.Pointer.
func NewJWKSVerifier(jwks []byte, opts VerifyOptions) (*Verifier, error) {
	l, err := opts.leeway()
	if err != nil {
		return nil, err
	}
	keys, err := parseJWKS(jwks)
	if err != nil {
		return nil, err
	}
	return &Verifier{keys: keys, leeway: l}, nil
}

// KeyIDs lists the kids a JWKS-backed verifier holds (nil for a
// keyring-backed one, whose keys are the keyring's).
func (v *Verifier) KeyIDs() []string {
	j, ok := v.keys.(jwksKeys)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(j))
	for kid := range j {
		out = append(out, kid)
	}
	return out
}

// privateMembers are JWK members that carry secret key material (RFC 7518
// §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

func parseJWKS(doc []byte) (jwksKeys, error) {
	bad := func(format string, a ...any) (jwksKeys, error) {
		return nil, fmt.Errorf("%w: jwks: %s", ErrInvalidKeyring, fmt.Sprintf(format, a...))
	}
	if len(doc) > maxJWKSBytes {
		return bad("%d bytes exceeds %d", len(doc), maxJWKSBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return bad("%v", err)
	}
	if len(set.Keys) > maxKeys {
		return bad("%d keys exceeds %d", len(set.Keys), maxKeys)
	}
	keys := jwksKeys{}
	for i, rawKey := range set.Keys {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(rawKey, &m); err != nil || m == nil {
			return bad("key %d is not a JSON object", i)
		}
		for _, p := range privateMembers {
			if _, ok := m[p]; ok {
				return bad("key %d contains private key material", i)
			}
		}
		get := func(name string) string {
			var s string
			if v, ok := m[name]; ok && json.Unmarshal(v, &s) == nil {
				return s
			}
			return ""
		}
		kty, crv, kid := get("kty"), get("crv"), get("kid")
		if kty != "OKP" || crv != "Ed25519" || kid == "" {
			continue
		}
		if alg := get("alg"); alg != "" && alg != string(jose.EdDSA) {
			continue
		}
		if use := get("use"); use != "" && use != "sig" {
			continue
		}
		if _, dup := keys[kid]; dup {
			return bad("duplicate kid %q", truncate(kid))
		}
		// Re-encode only the members that define the key and let go-jose
		// decode them: it checks length and rejects low-order points, and
		// nothing else in the member (x5c, x5u) gets parsed.
		minimal, err := json.Marshal(map[string]json.RawMessage{"kty": m["kty"], "crv": m["crv"], "x": m["x"]})
		if err != nil {
			return bad("key %q: %v", truncate(kid), err)
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(minimal); err != nil {
			return bad("key %q: %v", truncate(kid), err)
		}
		pub, ok := jwk.Key.(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize {
			return bad("key %q is not an Ed25519 public key", truncate(kid))
		}
		// go-jose accepts padded or non-canonical base64 in x; require the
		// canonical form so one key has one representation.
		var x string
		if err := json.Unmarshal(m["x"], &x); err != nil || x != base64.RawURLEncoding.EncodeToString(pub) {
			return bad("key %q: x is not canonical base64url", truncate(kid))
		}
		keys[kid] = pub
	}
	if len(keys) == 0 {
		return bad("no usable EdDSA/Ed25519 signing key")
	}
	return keys, nil
}
