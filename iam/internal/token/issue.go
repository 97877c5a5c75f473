package token

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Profile constants.
const (
	// TokenUseAccess is the token_use claim of an access token. The claim
	// exists so that any other JWT this service might sign with the same
	// keys (refresh tokens, ID tokens) can never pass as an access token.
	TokenUseAccess = "access"
	// typeAccessToken is the RFC 9068 JOSE "typ" for access tokens.
	typeAccessToken = "at+jwt"
	// jtiBytes of randomness per token ID.
	jtiBytes = 16
)

// Principal kinds for the principal_kind claim.
const (
	PrincipalUser           = "user"
	PrincipalServiceAccount = "service_account"
)

// AccessTokenRequest describes a token to issue.
type AccessTokenRequest struct {
	Issuer   string   // iss; the IAM's issuer URL
	Subject  string   // sub; stable principal ID
	Audience []string // aud; at least one resource server
	// TTL is the token lifetime, at most the keyring's MaxTokenTTL. It is
	// truncated to whole seconds (JWT times are seconds).
	TTL           time.Duration
	Scope         string // optional, space-separated (RFC 6749 §3.3)
	ClientID      string // optional, the OAuth client the token was issued to
	PrincipalKind string // optional, e.g. PrincipalUser
}

// Claims are the claims of a verified or issued access token.
type Claims struct {
	Issuer        string
	Subject       string
	Audience      []string
	ExpiresAt     time.Time
	IssuedAt      time.Time
	NotBefore     time.Time // zero if the token has no nbf
	ID            string    // jti
	TokenUse      string
	Scope         string
	ClientID      string
	PrincipalKind string
}

// wireClaims is the JSON form. Times are integers: JWT allows fractional
// NumericDates but this issuer never writes them, and the verifier rejects
// them rather than guess at rounding.
type wireClaims struct {
	Iss           string   `json:"iss"`
	Sub           string   `json:"sub"`
	Aud           audience `json:"aud"`
	Exp           *int64   `json:"exp"`
	Iat           *int64   `json:"iat"`
	Nbf           *int64   `json:"nbf,omitempty"`
	Jti           string   `json:"jti"`
	TokenUse      string   `json:"token_use"`
	Scope         string   `json:"scope,omitempty"`
	ClientID      string   `json:"client_id,omitempty"`
	PrincipalKind string   `json:"principal_kind,omitempty"`
}

// audience is aud in either JSON form: a single string or an array of
// strings (RFC 7519 §4.1.3). One audience is written as a plain string.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}

// IssueAccessToken signs an access token with the active key. iat and nbf are
// now, exp is now + TTL, jti is random. It returns the compact token and its
// claims.
func (r *Keyring) IssueAccessToken(now time.Time, req AccessTokenRequest) (string, *Claims, error) {
	if err := r.checkRequest(req); err != nil {
		return "", nil, err
	}
	jti, err := randomID(jtiBytes)
	if err != nil {
		return "", nil, fmt.Errorf("token: generating jti: %w", err)
	}
	iat := now.Unix()
	exp := iat + int64(req.TTL/time.Second)
	wc := wireClaims{
		Iss:           req.Issuer,
		Sub:           req.Subject,
		Aud:           audience(req.Audience),
		Exp:           &exp,
		Iat:           &iat,
		Nbf:           &iat,
		Jti:           jti,
		TokenUse:      TokenUseAccess,
		Scope:         req.Scope,
		ClientID:      req.ClientID,
		PrincipalKind: req.PrincipalKind,
	}
	payload, err := json.Marshal(wc)
	if err != nil {
		return "", nil, fmt.Errorf("token: encoding claims: %w", err)
	}

	r.mu.RLock()
	k := r.keys[0]
	r.mu.RUnlock()
	// The deadline is checked against the key actually used, so a token is
	// never signed by a key outside its signing window; that is what makes
	// retireAfter a sound bound.
	if !now.Before(k.signNotAfter) {
		return "", nil, fmt.Errorf("%w: key %s could sign until %s", ErrNoSigningKey, k.kid, k.signNotAfter.Format(time.RFC3339))
	}

	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType(typeAccessToken),
	)
	if err != nil {
		return "", nil, fmt.Errorf("token: creating signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", nil, fmt.Errorf("token: signing: %w", err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return "", nil, fmt.Errorf("token: serialising: %w", err)
	}
	if len(compact) > MaxTokenBytes {
		// Our own verifier would refuse it, so refuse to issue it.
		return "", nil, fmt.Errorf("%w: token is %d bytes, limit %d", ErrInvalidRequest, len(compact), MaxTokenBytes)
	}
	return compact, toClaims(&wc), nil
}

func (r *Keyring) checkRequest(req AccessTokenRequest) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, a...))
	}
	if req.Issuer == "" || req.Subject == "" {
		return bad("issuer and subject are required")
	}
	if len(req.Audience) == 0 {
		return bad("at least one audience is required")
	}
	for _, a := range req.Audience {
		if a == "" {
			return bad("empty audience")
		}
	}
	if req.TTL < time.Second || req.TTL > r.opts.MaxTokenTTL {
		return bad("ttl %v outside [1s,%v]", req.TTL, r.opts.MaxTokenTTL)
	}
	if !validScope(req.Scope) {
		return bad("scope contains characters not allowed by RFC 6749 §3.3")
	}
	return nil
}

// validScope accepts space-separated RFC 6749 scope-tokens: printable ASCII
// except '"' and '\'.
func validScope(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != ' ' && (c < 0x21 || c > 0x7e || c == '"' || c == '\\') {
			return false
		}
	}
	return true
}

func toClaims(wc *wireClaims) *Claims {
	c := &Claims{
		Issuer:        wc.Iss,
		Subject:       wc.Sub,
		Audience:      append([]string(nil), wc.Aud...),
		ID:            wc.Jti,
		TokenUse:      wc.TokenUse,
		Scope:         wc.Scope,
		ClientID:      wc.ClientID,
		PrincipalKind: wc.PrincipalKind,
	}
	if wc.Exp != nil {
		c.ExpiresAt = time.Unix(*wc.Exp, 0).UTC()
	}
	if wc.Iat != nil {
		c.IssuedAt = time.Unix(*wc.Iat, 0).UTC()
	}
	if wc.Nbf != nil {
		c.NotBefore = time.Unix(*wc.Nbf, 0).UTC()
	}
	return c
}
