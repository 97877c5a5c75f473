package token

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func headerKID(t *testing.T, tok string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h["kid"].(string)
}

func TestRotationLifecycle(t *testing.T) {
	r := newRing(t) // signing lifetime 24h, max TTL 1h
	v := verifier(t, r, VerifyOptions{Leeway: NoLeeway})
	kidA := r.ActiveKeyID()

	// A token signed with A shortly before rotation.
	tA := t0.Add(time.Hour)
	tokA, _, err := r.IssueAccessToken(tA, with2(defaultRequest(), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if headerKID(t, tokA) != kidA {
		t.Fatal("token not signed with active key")
	}

	rot := tA.Add(time.Minute)
	kidB, err := r.Rotate(rot)
	if err != nil {
		t.Fatal(err)
	}
	if kidB == kidA || r.ActiveKeyID() != kidB {
		t.Fatal("rotation did not activate a new key")
	}
	// New tokens carry the new kid.
	tokB := issue(t, r, rot)
	if headerKID(t, tokB) != kidB {
		t.Fatal("post-rotation token does not carry the new kid")
	}
	// JWKS holds exactly A and B.
	if got := kids(r.JWKS()); !slices.Equal(got, sorted(kidA, kidB)) {
		t.Fatalf("JWKS kids %v, want %v", got, sorted(kidA, kidB))
	}

	// The old token keeps verifying until it expires ...
	for _, at := range []time.Time{rot, rot.Add(30 * time.Minute), tA.Add(time.Hour - time.Second)} {
		if _, err := v.Verify(tokA, at, testIssuer, testAudience); err != nil {
			t.Fatalf("pre-rotation token rejected at %v: %v", at.Sub(t0), err)
		}
	}
	if _, err := v.Verify(tokA, tA.Add(time.Hour), testIssuer, testAudience); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v", err)
	}

	// ... and A stays in the keyring until rotation time + max TTL.
	retire := rot.Add(time.Hour)
	if dropped := r.Prune(retire.Add(-time.Second)); len(dropped) != 0 {
		t.Fatalf("pruned %v before retireAfter", dropped)
	}
	if info := r.Keys(); len(info) != 2 || !info[1].RetireAfter.Equal(retire) || !info[1].DeactivatedAt.Equal(rot) || info[1].Active || !info[0].Active {
		t.Fatalf("key info %+v", info)
	}
	dropped := r.Prune(retire)
	if !slices.Equal(dropped, []string{kidA}) {
		t.Fatalf("Prune dropped %v, want [%s]", dropped, kidA)
	}
	if got := kids(r.JWKS()); !slices.Equal(got, []string{kidB}) {
		t.Fatalf("JWKS after prune %v", got)
	}
	// After Prune the old token is rejected for its key, and so is a token
	// forged with the old key (should it have leaked) whatever its exp says.
	if _, err := v.Verify(tokA, retire, testIssuer, testAudience); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("pruned-key token: %v", err)
	}
	// B keeps working.
	if _, err := v.Verify(tokB, rot.Add(time.Minute), testIssuer, testAudience); err != nil {
		t.Fatal(err)
	}
	// The active key is never pruned, however old.
	if d := r.Prune(t0.Add(1000 * time.Hour)); len(d) != 0 || r.ActiveKeyID() != kidB {
		t.Fatalf("active key pruned: %v", d)
	}
}

func with2(req AccessTokenRequest, ttl time.Duration) AccessTokenRequest {
	req.TTL = ttl
	return req
}

func TestRetiredKeyRefusedEvenWithoutPrune(t *testing.T) {
	r := newRing(t)
	kidA, privA := activeKey(r)
	rot := t0.Add(time.Minute)
	if _, err := r.Rotate(rot); err != nil {
		t.Fatal(err)
	}
	// Someone holding A's private key forges a long-lived token after A
	// has retired. Prune has not run, but the keyring verifier still knows
	// A can no longer have signed anything valid.
	late := rot.Add(2 * time.Hour)
	forged := signRaw(privA, goodHeader(kidA), goodClaims(late))
	_, err := verifier(t, r, VerifyOptions{}).Verify(forged, late, testIssuer, testAudience)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired key accepted: %v", err)
	}
}

func TestSigningDeadline(t *testing.T) {
	r := newRing(t) // 24h signing lifetime
	deadline := t0.Add(24 * time.Hour)
	if r.RotationDue(deadline.Add(-time.Second)) {
		t.Fatal("rotation due early")
	}
	if _, _, err := r.IssueAccessToken(deadline.Add(-time.Second), defaultRequest()); err != nil {
		t.Fatal(err)
	}
	if !r.RotationDue(deadline) {
		t.Fatal("rotation not due at deadline")
	}
	if _, _, err := r.IssueAccessToken(deadline, defaultRequest()); !errors.Is(err, ErrNoSigningKey) {
		t.Fatalf("issued past deadline: %v", err)
	}
	if _, err := r.Rotate(deadline.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.IssueAccessToken(deadline.Add(time.Hour), defaultRequest()); err != nil {
		t.Fatal(err)
	}
	// The expired-for-signing key retires from its deadline, not from the
	// later rotation: it cannot have signed after the deadline.
	info := r.Keys()[1]
	if !info.RetireAfter.Equal(deadline.Add(time.Hour)) {
		t.Fatalf("retireAfter %v, want deadline+maxTTL", info.RetireAfter)
	}
}

func TestMultipleRotations(t *testing.T) {
	r := newRing(t)
	v := verifier(t, r, VerifyOptions{Leeway: NoLeeway})
	var toks []string
	var ids []string
	now := t0
	for i := range 4 {
		ids = append(ids, r.ActiveKeyID())
		toks = append(toks, issue(t, r, now))
		now = now.Add(20 * time.Minute)
		if i < 3 {
			if _, err := r.Rotate(now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := kids(r.JWKS()); !slices.Equal(got, sorted(ids...)) {
		t.Fatalf("JWKS %v", got)
	}
	// At t0+65m: key0 retires at 20m+60m=80m (kept), and the 10-minute
	// tokens of keys 0..2 have expired while key 3's is live.
	now = t0.Add(65 * time.Minute)
	if d := r.Prune(now); len(d) != 0 {
		t.Fatalf("pruned %v", d)
	}
	if _, err := v.Verify(toks[3], now, testIssuer, testAudience); err != nil {
		t.Fatal(err)
	}
	// At t0+100m keys 0 (80m) and 1 (100m) are gone, 2 (120m) stays.
	if d := r.Prune(t0.Add(100 * time.Minute)); !slices.Equal(sorted(d...), sorted(ids[0], ids[1])) {
		t.Fatalf("pruned %v", d)
	}
	if got := kids(r.JWKS()); !slices.Equal(got, sorted(ids[2], ids[3])) {
		t.Fatalf("JWKS %v", got)
	}
}

func TestJWKSFormat(t *testing.T) {
	r := newRing(t)
	if _, err := r.Rotate(t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(r.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("%d keys", len(set.Keys))
	}
	want := map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig"}
	for _, k := range set.Keys {
		for f, v := range want {
			if k[f] != v {
				t.Errorf("key %v: %s = %v, want %s", k["kid"], f, k[f], v)
			}
		}
		x, _ := k["x"].(string)
		if raw, err := base64.RawURLEncoding.DecodeString(x); err != nil || len(raw) != ed25519.PublicKeySize {
			t.Errorf("x %q is not a base64url Ed25519 key", x)
		}
		kid, _ := k["kid"].(string)
		if !validKID(kid) || len(kid) != 22 {
			t.Errorf("kid %q not 22 URL-safe chars", kid)
		}
		for _, secret := range []string{"d", "k", "p", "q"} {
			if _, ok := k[secret]; ok {
				t.Errorf("JWKS key has private member %q", secret)
			}
		}
	}
	// Newest (active) first.
	if set.Keys[0]["kid"] != r.ActiveKeyID() {
		t.Error("active key not first")
	}
}

func TestIssuedTokenShape(t *testing.T) {
	r := newRing(t)
	tok, claims, err := r.IssueAccessToken(t0, defaultRequest())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatal("not compact JWS")
	}
	hraw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hdr map[string]any
	if err := json.Unmarshal(hraw, &hdr); err != nil {
		t.Fatal(err)
	}
	if len(hdr) != 3 || hdr["alg"] != "EdDSA" || hdr["typ"] != "at+jwt" || hdr["kid"] != r.ActiveKeyID() {
		t.Fatalf("header %v", hdr)
	}
	praw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var p map[string]any
	if err := json.Unmarshal(praw, &p); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "token_use", "scope", "client_id", "principal_kind"} {
		if _, ok := p[f]; !ok {
			t.Errorf("claim %s missing", f)
		}
	}
	if p["aud"] != testAudience {
		t.Errorf("single aud not a string: %v", p["aud"])
	}
	if p["token_use"] != "access" {
		t.Errorf("token_use %v", p["token_use"])
	}
	if exp, iat := p["exp"].(float64), p["iat"].(float64); exp-iat != 600 {
		t.Errorf("exp-iat = %v", exp-iat)
	}
	if claims.ID != p["jti"] || len(claims.ID) != 22 {
		t.Errorf("jti %v", claims.ID)
	}

	// Multiple audiences go out as an array and verify for each member.
	req := defaultRequest()
	req.Audience = []string{testAudience, "https://storage.photoncloud.test"}
	tok2, _, err := r.IssueAccessToken(t0, req)
	if err != nil {
		t.Fatal(err)
	}
	praw, _ = base64.RawURLEncoding.DecodeString(strings.Split(tok2, ".")[1])
	if !strings.Contains(string(praw), `"aud":["`+testAudience+`","https://storage.photoncloud.test"]`) {
		t.Errorf("aud array not rendered: %s", praw)
	}
	v := verifier(t, r, VerifyOptions{})
	for _, a := range req.Audience {
		if _, err := v.Verify(tok2, t0, testIssuer, a); err != nil {
			t.Errorf("aud %s: %v", a, err)
		}
	}

	// jti is unique per token.
	seen := map[string]bool{}
	for range 100 {
		_, c, _ := r.IssueAccessToken(t0, defaultRequest())
		if seen[c.ID] {
			t.Fatal("jti repeated")
		}
		seen[c.ID] = true
	}

	// Optional claims are omitted when empty.
	req = defaultRequest()
	req.Scope, req.ClientID, req.PrincipalKind = "", "", ""
	tok3, _, _ := r.IssueAccessToken(t0, req)
	praw, _ = base64.RawURLEncoding.DecodeString(strings.Split(tok3, ".")[1])
	for _, f := range []string{"scope", "client_id", "principal_kind"} {
		if strings.Contains(string(praw), `"`+f+`"`) {
			t.Errorf("empty %s emitted", f)
		}
	}
}

func TestIssueRejectsBadRequests(t *testing.T) {
	r := newRing(t)
	mods := map[string]func(*AccessTokenRequest){
		"no issuer":          func(q *AccessTokenRequest) { q.Issuer = "" },
		"no subject":         func(q *AccessTokenRequest) { q.Subject = "" },
		"no audience":        func(q *AccessTokenRequest) { q.Audience = nil },
		"empty audience":     func(q *AccessTokenRequest) { q.Audience = []string{testAudience, ""} },
		"zero ttl":           func(q *AccessTokenRequest) { q.TTL = 0 },
		"sub-second ttl":     func(q *AccessTokenRequest) { q.TTL = 500 * time.Millisecond },
		"ttl above max":      func(q *AccessTokenRequest) { q.TTL = time.Hour + time.Second },
		"scope with quote":   func(q *AccessTokenRequest) { q.Scope = `a"b` },
		"scope with newline": func(q *AccessTokenRequest) { q.Scope = "a\nb" },
		"scope non-ascii":    func(q *AccessTokenRequest) { q.Scope = "café" },
		"oversized":          func(q *AccessTokenRequest) { q.Subject = strings.Repeat("s", MaxTokenBytes) },
	}
	for name, mod := range mods {
		req := defaultRequest()
		mod(&req)
		if _, _, err := r.IssueAccessToken(t0, req); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestInteropGoJose checks that a general-purpose JOSE library (the one
// go-oidc is built on) accepts our tokens with our published JWKS, so
// relying parties using it see standard EdDSA JWTs.
func TestInteropGoJose(t *testing.T) {
	r := newRing(t)
	tok := issue(t, r, t0)
	doc, _ := json.Marshal(r.JWKS())
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed.Headers) != 1 || parsed.Headers[0].ExtraHeaders["typ"] != "at+jwt" {
		t.Fatalf("headers %+v", parsed.Headers)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q matches %d JWKS keys", parsed.Headers[0].KeyID, len(keys))
	}
	var std jwt.Claims
	var extra struct {
		TokenUse string `json:"token_use"`
		Scope    string `json:"scope"`
	}
	if err := parsed.Claims(keys[0].Key, &std, &extra); err != nil {
		t.Fatal(err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, AnyAudience: jwt.Audience{testAudience}, Time: t0}, 0); err != nil {
		t.Fatal(err)
	}
	if extra.TokenUse != "access" || extra.Scope == "" {
		t.Fatalf("extra claims %+v", extra)
	}
}

// TestHS256ForgeryIsGenuine shows the key-confusion token used in the attack
// tests is a real forgery: a library that let the token pick HS256 and used
// the verification key's bytes as the HMAC secret would accept it. Our
// verifier rejects it (TestAttacks*), and does so before any key lookup
// (TestAlgorithmCheckedBeforeKeyLookup).
func TestHS256ForgeryIsGenuine(t *testing.T) {
	r := newRing(t)
	kid, priv := activeKey(r)
	pub := priv.Public().(ed25519.PublicKey)
	input := enc(with(goodHeader(kid), "alg", "HS256")) + "." + enc(goodClaims(t0))
	m := hmac.New(sha256.New, pub)
	m.Write([]byte(input))
	forged := input + "." + enc(m.Sum(nil))

	jws, err := jose.ParseSignedCompact(forged, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify([]byte(pub)); err != nil {
		t.Fatalf("forgery not valid under naive HS256: %v", err)
	}
	if _, err := verifier(t, r, VerifyOptions{}).Verify(forged, t0, testIssuer, testAudience); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("our verifier: %v", err)
	}
}

// spyKeys records lookups.
type spyKeys struct {
	mu    sync.Mutex
	calls int
	inner keySource
}

func (s *spyKeys) lookup(kid string, now time.Time) (ed25519.PublicKey, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	return s.inner.lookup(kid, now)
}

func TestAlgorithmCheckedBeforeKeyLookup(t *testing.T) {
	r := newRing(t)
	spy := &spyKeys{inner: r}
	v := &Verifier{keys: spy, leeway: DefaultLeeway}
	for _, c := range attackCases(t, r) {
		if !errors.Is(c.want, ErrAlgorithm) {
			continue
		}
		before := spy.calls
		if _, err := v.Verify(c.token, t0, testIssuer, testAudience); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("%s: %v", c.name, err)
		}
		if spy.calls != before {
			t.Errorf("%s: key looked up before algorithm was rejected", c.name)
		}
	}
	// Oversized input is refused before even the header is decoded.
	if _, err := v.Verify(strings.Repeat("A", MaxTokenBytes+1), t0, testIssuer, testAudience); !errors.Is(err, ErrMalformed) || spy.calls != 0 {
		t.Errorf("oversized: %v, lookups %d", err, spy.calls)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	r := newRing(t)
	tokA := issue(t, r, t0)
	rot := t0.Add(time.Minute)
	if _, err := r.Rotate(rot); err != nil {
		t.Fatal(err)
	}
	tokB := issue(t, r, rot)

	blob, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Unmarshal(blob, r.Options())
	if err != nil {
		t.Fatal(err)
	}
	if r2.ActiveKeyID() != r.ActiveKeyID() {
		t.Fatal("active key changed")
	}
	if !slices.Equal(kids(r2.JWKS()), kids(r.JWKS())) {
		t.Fatal("key set changed")
	}
	if fmt.Sprint(r.Keys()) != fmt.Sprint(r2.Keys()) {
		t.Fatalf("metadata changed:\n%v\n%v", r.Keys(), r2.Keys())
	}
	v2 := verifier(t, r2, VerifyOptions{})
	for _, tok := range []string{tokA, tokB} {
		if _, err := v2.Verify(tok, rot, testIssuer, testAudience); err != nil {
			t.Fatalf("token from before restore rejected: %v", err)
		}
	}
	// The restored private key is the same: the original verifies its tokens.
	if _, err := verifier(t, r, VerifyOptions{}).Verify(issue(t, r2, rot), rot, testIssuer, testAudience); err != nil {
		t.Fatal(err)
	}
	// A second round trip is byte-identical.
	blob2, _ := r2.Marshal()
	if string(blob) != string(blob2) {
		t.Fatal("marshal not stable")
	}
}

func TestUnmarshalKeepsLargerTTL(t *testing.T) {
	r := newRing(t) // max TTL 1h
	rot := t0.Add(time.Minute)
	if _, err := r.Rotate(rot); err != nil {
		t.Fatal(err)
	}
	blob, _ := r.Marshal()
	// Config lowered to 10 minutes: the old key must still live an hour.
	lower, err := Unmarshal(blob, KeyringOptions{SigningLifetime: 24 * time.Hour, MaxTokenTTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := lower.Keys()[1].RetireAfter; !got.Equal(rot.Add(time.Hour)) {
		t.Fatalf("retireAfter lowered to %v", got.Sub(rot))
	}
	// Config raised to 2 hours: keys adopt the larger bound.
	higher, err := Unmarshal(blob, KeyringOptions{SigningLifetime: 24 * time.Hour, MaxTokenTTL: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := higher.Keys()[1].RetireAfter; !got.Equal(rot.Add(2 * time.Hour)) {
		t.Fatalf("retireAfter %v, want 2h", got.Sub(rot))
	}
}

func TestUnmarshalRejectsBadBlobs(t *testing.T) {
	r := newRing(t)
	if _, err := r.Rotate(t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	blob, _ := r.Marshal()
	var doc map[string]any
	if err := json.Unmarshal(blob, &doc); err != nil {
		t.Fatal(err)
	}
	keyAt := func(d map[string]any, i int) map[string]any { return d["keys"].([]any)[i].(map[string]any) }
	mutate := func(f func(d map[string]any)) []byte {
		var d map[string]any
		_ = json.Unmarshal(blob, &d)
		f(d)
		return mustJSON(d)
	}
	cases := map[string][]byte{
		"not json":        []byte("{"),
		"empty":           []byte(`{"version":1,"keys":[]}`),
		"version":         mutate(func(d map[string]any) { d["version"] = 2 }),
		"unknown field":   mutate(func(d map[string]any) { d["extra"] = true }),
		"duplicate kid":   mutate(func(d map[string]any) { keyAt(d, 1)["kid"] = keyAt(d, 0)["kid"] }),
		"bad kid":         mutate(func(d map[string]any) { keyAt(d, 0)["kid"] = "has space" }),
		"short seed":      mutate(func(d map[string]any) { keyAt(d, 0)["seed"] = "AAAA" }),
		"seed not b64url": mutate(func(d map[string]any) { keyAt(d, 0)["seed"] = strings.Repeat("+", 43) }),
		"two active":      mutate(func(d map[string]any) { delete(keyAt(d, 1), "deactivated_at") }),
		"none active":     mutate(func(d map[string]any) { keyAt(d, 0)["deactivated_at"] = t0.Format(time.RFC3339) }),
		"active not first": mutate(func(d map[string]any) {
			ks := d["keys"].([]any)
			ks[0], ks[1] = ks[1], ks[0]
		}),
		"ttl zero":            mutate(func(d map[string]any) { keyAt(d, 0)["max_token_ttl_seconds"] = 0 }),
		"sign before created": mutate(func(d map[string]any) { keyAt(d, 0)["sign_not_after"] = t0.Add(-time.Hour).Format(time.RFC3339) }),
	}
	for name, b := range cases {
		if _, err := Unmarshal(b, KeyringOptions{}); !errors.Is(err, ErrInvalidKeyring) {
			t.Errorf("%s: err = %v", name, err)
		} else if strings.Contains(err.Error(), keyAt(doc, 0)["seed"].(string)) {
			t.Errorf("%s: error leaks seed", name)
		}
	}
}

func TestKeyringFormattingHidesSecrets(t *testing.T) {
	r := newRing(t)
	_, priv := activeKey(r)
	seed := base64.RawURLEncoding.EncodeToString(priv.Seed())
	secrets := []string{seed, base64.StdEncoding.EncodeToString(priv), fmt.Sprint([]byte(priv)), fmt.Sprintf("%x", priv.Seed())}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, r)
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s leaks key material: %s", verb, out)
			}
		}
		if !strings.Contains(out, r.ActiveKeyID()) {
			t.Errorf("%s output %q lacks kid", verb, out)
		}
	}
	// Marshal, by contrast, must contain it (that is its job).
	blob, _ := r.Marshal()
	if !strings.Contains(string(blob), seed) {
		t.Fatal("Marshal lost the private key")
	}
}

func TestKeyringOptions(t *testing.T) {
	r, err := NewKeyring(t0, KeyringOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o := r.Options(); o.SigningLifetime != DefaultSigningLifetime || o.MaxTokenTTL != DefaultMaxTokenTTL {
		t.Fatalf("defaults %+v", o)
	}
	for _, o := range []KeyringOptions{
		{SigningLifetime: time.Second},
		{SigningLifetime: 400 * 24 * time.Hour},
		{MaxTokenTTL: 500 * time.Millisecond},
		{MaxTokenTTL: 48 * time.Hour},
		{MaxTokenTTL: -time.Hour},
	} {
		if _, err := NewKeyring(t0, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestJWKSVerifierParsing(t *testing.T) {
	r := newRing(t)
	kid, priv := activeKey(r)
	pub := priv.Public().(ed25519.PublicKey)
	x := base64.RawURLEncoding.EncodeToString(pub)
	okp := func(kid string, extra ...string) string {
		s := `{"kty":"OKP","crv":"Ed25519","kid":"` + kid + `","x":"` + x + `"`
		for i := 0; i < len(extra); i += 2 {
			s += `,"` + extra[i] + `":"` + extra[i+1] + `"`
		}
		return s + "}"
	}
	set := func(keys ...string) []byte { return []byte(`{"keys":[` + strings.Join(keys, ",") + `]}`) }
	rsa := `{"kty":"RSA","kid":"rsa1","n":"AQAB","e":"AQAB"}`

	// Usable sets.
	for name, doc := range map[string][]byte{
		"plain":               set(okp(kid)),
		"with alg and use":    set(okp(kid, "alg", "EdDSA", "use", "sig")),
		"rsa key skipped":     set(rsa, okp(kid)),
		"unknown kty skipped": set(`{"kty":"AKP","kid":"pq","alg":"ML-DSA-44","pub":"AAAA"}`, okp(kid)),
		"enc key skipped":     set(okp("other", "use", "enc"), okp(kid)),
		"other alg skipped":   set(okp("other", "alg", "Ed448"), okp(kid)),
		"no kid skipped":      set(`{"kty":"OKP","crv":"Ed25519","x":"`+x+`"}`, okp(kid)),
		"X25519 skipped":      set(`{"kty":"OKP","crv":"X25519","kid":"x","x":"`+x+`"}`, okp(kid)),
	} {
		v, err := NewJWKSVerifier(doc, VerifyOptions{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ids := v.KeyIDs(); !slices.Equal(ids, []string{kid}) {
			t.Errorf("%s: kids %v", name, ids)
		}
		if _, err := v.Verify(issue(t, r, t0), t0, testIssuer, testAudience); err != nil {
			t.Errorf("%s: verify: %v", name, err)
		}
	}

	// Refused sets.
	lowOrder := base64.RawURLEncoding.EncodeToString(append([]byte{1}, make([]byte, 31)...)) // the identity point
	for name, doc := range map[string][]byte{
		"not json":          []byte("nope"),
		"empty":             set(),
		"only rsa":          set(rsa),
		"private d":         set(okp(kid, "d", base64.RawURLEncoding.EncodeToString(priv.Seed()))),
		"private k":         set(`{"kty":"oct","kid":"h","k":"c2VjcmV0"}`, okp(kid)),
		"duplicate kid":     set(okp(kid), okp(kid)),
		"short x":           set(`{"kty":"OKP","crv":"Ed25519","kid":"s","x":"AAAA"}`),
		"low-order x":       set(`{"kty":"OKP","crv":"Ed25519","kid":"s","x":"` + lowOrder + `"}`),
		"padded x":          set(`{"kty":"OKP","crv":"Ed25519","kid":"s","x":"` + x + `="}`),
		"keys not array":    []byte(`{"keys":{}}`),
		"key not object":    set(`"k"`),
		"too large":         append(set(okp(kid)), make([]byte, maxJWKSBytes)...),
		"missing x":         set(`{"kty":"OKP","crv":"Ed25519","kid":"s"}`),
		"x not string":      set(`{"kty":"OKP","crv":"Ed25519","kid":"s","x":5}`),
		"too many keys":     set(slices.Repeat([]string{rsa}, maxKeys+1)...),
		"null keys element": set(`null`),
	} {
		if _, err := NewJWKSVerifier(doc, VerifyOptions{}); !errors.Is(err, ErrInvalidKeyring) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestJWKSVerifierAfterRotation: a relying service that refetches the JWKS
// after IAM rotates and prunes accepts new tokens and refuses tokens whose
// key was pruned.
func TestJWKSVerifierAfterRotation(t *testing.T) {
	r := newRing(t)
	tokA := issue(t, r, t0)
	rot := t0.Add(time.Minute)
	if _, err := r.Rotate(rot); err != nil {
		t.Fatal(err)
	}
	tokB := issue(t, r, rot)

	both := jwksVerifier(t, r, VerifyOptions{})
	for _, tok := range []string{tokA, tokB} {
		if _, err := both.Verify(tok, rot, testIssuer, testAudience); err != nil {
			t.Fatal(err)
		}
	}
	r.Prune(rot.Add(time.Hour))
	after := jwksVerifier(t, r, VerifyOptions{})
	if _, err := after.Verify(tokA, rot, testIssuer, testAudience); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("pruned key via JWKS: %v", err)
	}
	if _, err := after.Verify(tokB, rot, testIssuer, testAudience); err != nil {
		t.Fatal(err)
	}
	// A verifier built before the rotation does not know B: relying
	// parties must refetch on ErrUnknownKey.
	r0 := newRing(t)
	old := jwksVerifier(t, r0, VerifyOptions{})
	if _, err := r0.Rotate(rot); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Verify(issue(t, r0, rot), rot, testIssuer, testAudience); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("stale JWKS: %v", err)
	}
}

// TestConcurrentUse exercises issue, verify, rotate, prune and marshal at once
// under the race detector.
func TestConcurrentUse(t *testing.T) {
	r := newRing(t)
	v := verifier(t, r, VerifyOptions{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				now := t0.Add(time.Duration(j) * time.Second)
				tok, _, err := r.IssueAccessToken(now, defaultRequest())
				if err != nil {
					errs <- err
					return
				}
				if _, err := v.Verify(tok, now, testIssuer, testAudience); err != nil {
					errs <- fmt.Errorf("worker %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for j := range 10 {
			if _, err := r.Rotate(t0.Add(time.Duration(j) * time.Second)); err != nil {
				errs <- err
			}
			r.Prune(t0)
			_ = r.JWKS()
			if _, err := r.Marshal(); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRotateWithClockStepBack: a rotation stamped earlier than the previous
// key's creation (the host clock stepped back) must still persist and
// restore, with the newest key active.
func TestRotateWithClockStepBack(t *testing.T) {
	r := newRing(t)
	kid, err := r.Rotate(t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := r.Marshal()
	r2, err := Unmarshal(blob, r.Options())
	if err != nil {
		t.Fatal(err)
	}
	if r2.ActiveKeyID() != kid {
		t.Fatal("wrong active key after restore")
	}
}
