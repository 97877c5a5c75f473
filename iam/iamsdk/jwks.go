package iamsdk

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/photoncloud/core/iam/internal/token"
)

// KeySet verifies IAM access tokens locally against IAM's published JWKS.
// It fetches the set lazily, refetches it when a token names a key it does
// not hold (rotation), at most once per MinRefetch, and otherwise every
// MaxAge.
type KeySet struct {
	url, issuer, audience string
	hc                    *http.Client
	minRefetch, maxAge    time.Duration
	now                   func() time.Time

	v         atomic.Pointer[token.Verifier]
	mu        sync.Mutex   // serialises fetches
	fetchedAt atomic.Int64 // unix nanoseconds of the last successful fetch

	// verified remembers recently verified tokens (by SHA-256) so a busy
	// service does not verify the same signature on every call.
	vmu      sync.Mutex
	verified map[[32]byte]verifiedToken
}

type verifiedToken struct {
	s       *Subject
	expires time.Time
}

// verifiedTTL bounds how long a verified token is remembered (never past
// its own expiry).
const verifiedTTL = time.Minute

// KeySetOptions tune a KeySet; zero values pick the defaults.
type KeySetOptions struct {
	HTTPClient *http.Client
	// MinRefetch rate-limits refetches triggered by unknown kids (10s).
	MinRefetch time.Duration
	// MaxAge refetches the set periodically, so retired keys drop out (1h).
	MaxAge time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// NewKeySet returns a KeySet for tokens from issuer meant for audience.
func NewKeySet(issuer, audience string, o KeySetOptions) *KeySet {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.MinRefetch == 0 {
		o.MinRefetch = 10 * time.Second
	}
	if o.MaxAge == 0 {
		o.MaxAge = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &KeySet{url: strings.TrimSuffix(issuer, "/") + "/.well-known/jwks.json", issuer: issuer, audience: audience,
		hc: o.HTTPClient, minRefetch: o.MinRefetch, maxAge: o.MaxAge, now: o.Now, verified: map[[32]byte]verifiedToken{}}
}

// Subject is a verified caller.
type Subject struct {
	// Member is the policy member string: user:<id> or serviceAccount:<id>.
	Member   string
	ID       string
	Kind     string
	ClientID string
	Scope    string
	// token is the access token, forwarded when acting for the subject.
	token string
}

// Verify checks an access token and returns its subject.
func (k *KeySet) Verify(ctx context.Context, tok string) (*Subject, error) {
	if len(tok) > token.MaxTokenBytes {
		return nil, fmt.Errorf("iamsdk: token of %d bytes", len(tok))
	}
	key := sha256.Sum256([]byte(tok))
	now := k.now()
	k.vmu.Lock()
	hit, ok := k.verified[key]
	k.vmu.Unlock()
	if ok && now.Before(hit.expires) {
		cp := *hit.s // callers may modify what they get
		return &cp, nil
	}
	s, exp, err := k.verify(ctx, tok)
	if err != nil {
		return nil, err
	}
	if limit := now.Add(verifiedTTL); exp.After(limit) {
		exp = limit
	}
	k.vmu.Lock()
	if len(k.verified) >= 10_000 {
		clear(k.verified)
	}
	cp := *s
	k.verified[key] = verifiedToken{s: &cp, expires: exp}
	k.vmu.Unlock()
	return s, nil
}

func (k *KeySet) verify(ctx context.Context, tok string) (*Subject, time.Time, error) {
	v, err := k.verifier(ctx, false)
	if err != nil {
		return nil, time.Time{}, err
	}
	c, err := v.Verify(tok, k.now(), k.issuer, k.audience)
	if errors.Is(err, token.ErrUnknownKey) {
		// Perhaps IAM rotated its key: refetch (rate-limited) and retry.
		if v, err = k.verifier(ctx, true); err != nil {
			return nil, time.Time{}, err
		}
		c, err = v.Verify(tok, k.now(), k.issuer, k.audience)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	s := &Subject{ID: c.Subject, Kind: c.PrincipalKind, ClientID: c.ClientID, Scope: c.Scope, token: tok}
	switch c.PrincipalKind {
	case token.PrincipalUser:
		s.Member = "user:" + c.Subject
	case token.PrincipalServiceAccount:
		s.Member = "serviceAccount:" + c.Subject
	default:
		return nil, time.Time{}, fmt.Errorf("iamsdk: token for unknown principal kind %q", c.PrincipalKind)
	}
	return s, c.ExpiresAt, nil
}

func (k *KeySet) verifier(ctx context.Context, unknownKid bool) (*token.Verifier, error) {
	v := k.v.Load()
	if v != nil && !unknownKid && k.now().Sub(time.Unix(0, k.fetchedAt.Load())) <= k.maxAge {
		return v, nil // the common case takes no lock
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	v = k.v.Load()
	age := k.now().Sub(time.Unix(0, k.fetchedAt.Load()))
	switch {
	case v == nil, age > k.maxAge, unknownKid && age >= k.minRefetch:
	default:
		return k.v.Load(), nil
	}
	nv, err := k.fetch(ctx)
	if err != nil {
		if v != nil {
			// Keep verifying with the keys we have: a JWKS outage must
			// not stop tokens signed by known keys.
			return v, nil
		}
		return nil, err
	}
	k.v.Store(nv)
	k.fetchedAt.Store(k.now().UnixNano())
	return nv, nil
}

func (k *KeySet) fetch(ctx context.Context) (*token.Verifier, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("iamsdk: jwks request: %w", err)
	}
	resp, err := k.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("iamsdk: fetching jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("iamsdk: fetching jwks: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("iamsdk: reading jwks: %w", err)
	}
	v, err := token.NewJWKSVerifier(body, token.VerifyOptions{})
	if err != nil {
		return nil, fmt.Errorf("iamsdk: %w", err)
	}
	return v, nil
}
