// Package auth implements IAM's authentication flows on top of the store,
// the password hasher and the token keyring: password login (with optional
// TOTP), refresh-token rotation with reuse detection, the client-credentials
// grant for service accounts, revocation and introspection. Transports
// (Connect RPC and the OAuth2 HTTP endpoints) are thin layers over Service.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/photoncloud/core/iam/internal/password"
	"github.com/photoncloud/core/iam/internal/store"
	"github.com/photoncloud/core/iam/internal/throttle"
	"github.com/photoncloud/core/iam/internal/token"
	"github.com/photoncloud/core/iam/internal/totp"
)

// Errors returned by Service. Transports map them to protocol errors; their
// text is safe to show to callers because it never says which part of a
// credential was wrong.
var (
	// ErrInvalidCredentials: the login failed. Unknown user, wrong password,
	// wrong TOTP code and disabled user all produce exactly this error.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrMFARequired: the password was right but the user must also send a
	// TOTP code.
	ErrMFARequired = errors.New("a TOTP code is required")
	// ErrInvalidGrant: a refresh token is unknown, spent, expired or revoked.
	ErrInvalidGrant = errors.New("invalid refresh token")
	// ErrInvalidClient: client authentication failed.
	ErrInvalidClient = errors.New("invalid client credentials")
	// ErrUnauthenticated: no valid access token was presented.
	ErrUnauthenticated = errors.New("missing or invalid access token")
	// ErrInvalidScope: the requested scope is malformed.
	ErrInvalidScope = errors.New("invalid scope")
)

// ThrottledError says a login was refused without being tried because the
// account or the source address failed too often recently.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins; retry in %s", e.RetryAfter.Round(time.Second))
}

// Token formats. Prefixes let a presented string be classified without a
// lookup and make leaked secrets easy to recognise by secret scanners.
const (
	refreshPrefix = "pcrt_"
	secretPrefix  = "pcsk_"
	secretBytes   = 32
	// maxOpaqueLen bounds opaque tokens and secrets before any work is done.
	maxOpaqueLen = 256
	// AdminGroup is the group whose members may administer identities until
	// the policy engine arrives.
	AdminGroup = "admins"
)

// Config configures a Service.
type Config struct {
	// Issuer is the iss of every token and the base of the OAuth2 URLs.
	Issuer string
	// Audience is the aud of every access token IAM issues.
	Audience string
	// AccessTokenTTL is the access-token lifetime.
	AccessTokenTTL time.Duration
	// SessionTTL bounds a refresh-token family from its login, however often
	// it is refreshed.
	SessionTTL time.Duration
	// Now returns the current time; time.Now when nil. Tests move it.
	Now func() time.Time
	// AccountThrottle and SourceThrottle limit failed logins per account
	// name and per source address; zero values select the defaults.
	AccountThrottle throttle.Config
	SourceThrottle  throttle.Config
	// Meter receives the service's counters; none are recorded when nil.
	Meter metric.MeterProvider
	// Audit receives login and token events with their outcome; none when
	// nil.
	Audit EventSink
}

// EventSink records authentication events (the audit log). principal is a
// member string or the name as presented, never a credential.
type EventSink interface {
	AuthEvent(ctx context.Context, principal, action, outcome, reason string)
}

// member is the policy member string of a principal ("user:usr_...",
// "serviceAccount:sa_..."), as audit records and bindings name it.
func member(kind, id string) string {
	if kind == store.KindServiceAccount {
		return "serviceAccount:" + id
	}
	return kind + ":" + id
}

func (s *Service) audit(ctx context.Context, principal, action string, err error, reason string) {
	if s.cfg.Audit == nil {
		return
	}
	outcome := "success"
	if err != nil {
		outcome = "failure"
		if reason == "" {
			reason = err.Error()
		}
	}
	s.cfg.Audit.AuthEvent(ctx, principal, action, outcome, reason)
}

// DefaultAccountThrottle is the per-account default: a few tries, then
// waits of 1s, 2s, 4s... up to 5 minutes (never longer, so an attacker
// cannot deny a victim their account). A source address (see
// DefaultSourceThrottle) gets more tries, since many users may share one,
// but a longer cap.
func DefaultAccountThrottle() throttle.Config {
	return throttle.Config{Free: 5, BaseDelay: time.Second, MaxDelay: 5 * time.Minute, Forget: time.Hour}
}

// DefaultSourceThrottle is the per-source-address default; see
// DefaultAccountThrottle.
func DefaultSourceThrottle() throttle.Config {
	return throttle.Config{Free: 20, BaseDelay: time.Second, MaxDelay: 15 * time.Minute, Forget: time.Hour}
}

// Service runs the authentication flows.
type Service struct {
	cfg      Config
	store    store.Store
	hasher   *password.Hasher
	keys     *token.Keyring
	verifier *token.Verifier
	log      *slog.Logger
	accounts *throttle.Limiter
	sources  *throttle.Limiter
	metrics  *instruments
	// keysMu serialises keyring rotation and persistence.
	keysMu sync.Mutex
}

// New returns a Service.
func New(cfg Config, st store.Store, hasher *password.Hasher, keys *token.Keyring, log *slog.Logger) (*Service, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: issuer and audience are required")
	}
	if cfg.AccessTokenTTL <= 0 || cfg.SessionTTL <= 0 {
		return nil, errors.New("auth: token lifetimes must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AccountThrottle == (throttle.Config{}) {
		cfg.AccountThrottle = DefaultAccountThrottle()
	}
	if cfg.SourceThrottle == (throttle.Config{}) {
		cfg.SourceThrottle = DefaultSourceThrottle()
	}
	v, err := keys.Verifier(token.VerifyOptions{})
	if err != nil {
		return nil, fmt.Errorf("auth: verifier: %w", err)
	}
	in, err := newInstruments(cfg.Meter)
	if err != nil {
		return nil, err
	}
	return &Service{
		cfg: cfg, store: st, hasher: hasher, keys: keys, verifier: v, log: log,
		accounts: throttle.New(cfg.AccountThrottle), sources: throttle.New(cfg.SourceThrottle),
		metrics: in,
	}, nil
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Keyring returns the signing keyring (for the JWKS endpoint).
func (s *Service) Keyring() *token.Keyring { return s.keys }

// Hasher returns the password hasher (for setting passwords).
func (s *Service) Hasher() *password.Hasher { return s.hasher }

// TokenSet is the result of a successful grant.
type TokenSet struct {
	AccessToken string
	ExpiresIn   time.Duration
	// RefreshToken is empty for grants that do not issue one.
	RefreshToken      string
	RefreshExpireTime time.Time
	Scope             string
}

// Principal is an authenticated caller.
type Principal struct {
	Kind   string // store.KindUser or store.KindServiceAccount
	ID     string
	Name   string
	Claims *token.Claims
}

func randomToken(prefix string) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// looksLikeRefresh classifies a presented token cheaply; a false positive
// only costs a failed lookup.
func looksLikeRefresh(t string) bool {
	return strings.HasPrefix(t, refreshPrefix) && len(t) <= maxOpaqueLen
}

// LoginRequest is a password login.
type LoginRequest struct {
	Username string
	Password string
	// TOTPCode or RecoveryCode is required when the user has MFA.
	TOTPCode     string
	RecoveryCode string
	// Source is the caller's network address ("host:port"), for throttling.
	Source string
}

// Login authenticates a user by password (and TOTP or a recovery code when
// enrolled) and starts a session. Throttling is keyed by the name as given,
// whether or not such a user exists, so it reveals nothing about accounts
// either.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*TokenSet, error) {
	now := s.cfg.Now()
	acctKey, srcKey := "user:"+req.Username, throttle.SourceKey(req.Source)
	if wait := max(s.accounts.Check(acctKey, now), s.sources.Check(srcKey, now)); wait > 0 {
		s.log.InfoContext(ctx, "login throttled", "source", srcKey)
		add(ctx, s.metrics.throttled, "", "")
		add(ctx, s.metrics.logins, "outcome", "throttled")
		return nil, &ThrottledError{RetryAfter: wait}
	}
	ts, err := s.login(ctx, req, now)
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		s.accounts.Fail(acctKey, now)
		s.sources.Fail(srcKey, now)
		add(ctx, s.metrics.logins, "outcome", "invalid_credentials")
	case errors.Is(err, ErrMFARequired):
		add(ctx, s.metrics.logins, "outcome", "mfa_required")
	case err != nil:
		add(ctx, s.metrics.logins, "outcome", "error")
	default:
		// Only the account is forgiven: a source that guesses many
		// accounts must not clear its record by logging into its own.
		s.accounts.Succeed(acctKey)
		add(ctx, s.metrics.logins, "outcome", "success")
		add(ctx, s.metrics.issued, "grant", "password")
	}
	s.audit(ctx, "user:"+req.Username, "iam.auth.login", err, "")
	return ts, err
}

func (s *Service) login(ctx context.Context, req LoginRequest, now time.Time) (*TokenSet, error) {
	pw := req.Password
	u, err := s.store.GetUserByName(ctx, req.Username)
	if errors.Is(err, store.ErrNotFound) {
		// Same Argon2id work as a real verification, so response time does
		// not reveal whether the account exists (ASVS 6.3.8).
		s.hasher.DummyVerify(pw)
		s.log.InfoContext(ctx, "login failed", "reason", "unknown user")
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("auth: login: %w", err)
	}
	ok, err := s.hasher.Verify(pw, u.PasswordHash)
	if err != nil || !ok {
		s.log.InfoContext(ctx, "login failed", "reason", "wrong password", "user_id", u.ID)
		return nil, ErrInvalidCredentials
	}
	// Checked only after the password so a disabled account costs the same
	// and answers the same as any other failure.
	if u.Disabled {
		s.log.InfoContext(ctx, "login failed", "reason", "user disabled", "user_id", u.ID)
		return nil, ErrInvalidCredentials
	}
	if u.TOTPSecret != "" {
		switch {
		case req.RecoveryCode != "":
			if err := s.consumeRecovery(ctx, u, req.RecoveryCode); err != nil {
				return nil, err
			}
		case req.TOTPCode != "":
			if err := s.consumeTOTP(ctx, u, req.TOTPCode, now); err != nil {
				return nil, err
			}
		default:
			return nil, ErrMFARequired
		}
	}
	s.upgradeHash(ctx, u, pw)
	ts, err := s.startSession(ctx, store.KindUser, u.ID, "", "", now)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "login succeeded", "user_id", u.ID)
	return ts, nil
}

// consumeTOTP verifies a code and records its time step in the same store
// update that checks it was not used before, so a code works once even when
// two logins race.
func (s *Service) consumeTOTP(ctx context.Context, u *store.User, code string, now time.Time) error {
	counter, ok := totp.Verify(u.TOTPSecret, code, now, u.TOTPLastCounter)
	if !ok {
		s.log.InfoContext(ctx, "login failed", "reason", "wrong totp code", "user_id", u.ID)
		return ErrInvalidCredentials
	}
	_, err := s.store.UpdateUser(ctx, u.ID, "", func(cur *store.User) error {
		if counter <= cur.TOTPLastCounter {
			return ErrInvalidCredentials
		}
		cur.TOTPLastCounter = counter
		return nil
	})
	if errors.Is(err, ErrInvalidCredentials) {
		s.log.InfoContext(ctx, "login failed", "reason", "totp code reused", "user_id", u.ID)
		return ErrInvalidCredentials
	}
	if err != nil {
		return fmt.Errorf("auth: recording totp use: %w", err)
	}
	return nil
}

// upgradeHash re-hashes the password under the current parameters when the
// stored hash is weaker. Failure only costs the upgrade, never the login.
func (s *Service) upgradeHash(ctx context.Context, u *store.User, pw string) {
	need, err := s.hasher.NeedsRehash(u.PasswordHash)
	if err != nil || !need {
		return
	}
	h, err := s.hasher.Hash(pw)
	if err != nil {
		s.log.WarnContext(ctx, "password hash upgrade failed", "user_id", u.ID, "error", err.Error())
		return
	}
	old := u.PasswordHash
	_, err = s.store.UpdateUser(ctx, u.ID, "", func(cur *store.User) error {
		if cur.PasswordHash == old { // skip if the password changed meanwhile
			cur.PasswordHash = h
		}
		return nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "password hash upgrade failed", "user_id", u.ID, "error", err.Error())
		return
	}
	s.log.InfoContext(ctx, "password hash upgraded", "user_id", u.ID)
}

func (s *Service) issueAccess(kind, subject, clientID, scope string, now time.Time) (string, error) {
	at, _, err := s.keys.IssueAccessToken(now, token.AccessTokenRequest{
		Issuer:        s.cfg.Issuer,
		Subject:       subject,
		Audience:      []string{s.cfg.Audience},
		TTL:           s.cfg.AccessTokenTTL,
		Scope:         scope,
		ClientID:      clientID,
		PrincipalKind: kind,
	})
	if err != nil {
		return "", fmt.Errorf("auth: issuing access token: %w", err)
	}
	return at, nil
}

func (s *Service) startSession(ctx context.Context, kind, subject, clientID, scope string, now time.Time) (*TokenSet, error) {
	at, err := s.issueAccess(kind, subject, clientID, scope, now)
	if err != nil {
		return nil, err
	}
	rt, err := randomToken(refreshPrefix)
	if err != nil {
		return nil, err
	}
	famID, err := randomToken("")
	if err != nil {
		return nil, err
	}
	exp := now.Add(s.cfg.SessionTTL).UTC()
	fam := &store.RefreshFamily{ID: famID, Subject: subject, CreatedAt: now.UTC(), ExpiresAt: exp}
	first := &store.RefreshToken{
		Hash: hashToken(rt), Subject: subject, PrincipalKind: kind, ClientID: clientID, Scope: scope,
		Audience: []string{s.cfg.Audience}, IssuedAt: now.UTC(), ExpiresAt: exp,
	}
	if err := s.store.CreateRefreshFamily(ctx, fam, first); err != nil {
		return nil, fmt.Errorf("auth: storing session: %w", err)
	}
	return &TokenSet{AccessToken: at, ExpiresIn: s.cfg.AccessTokenTTL, RefreshToken: rt, RefreshExpireTime: exp, Scope: scope}, nil
}

// Refresh spends a refresh token and returns its successor with a new
// access token. Spending is one store transaction, so of concurrent
// refreshes with the same token exactly one succeeds; presenting a spent
// token revokes its family.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (*TokenSet, error) {
	if !looksLikeRefresh(refreshToken) {
		return nil, ErrInvalidGrant
	}
	now := s.cfg.Now()
	rt, err := randomToken(refreshPrefix)
	if err != nil {
		return nil, err
	}
	next := &store.RefreshToken{Hash: hashToken(rt), IssuedAt: now.UTC(), ExpiresAt: now.Add(s.cfg.SessionTTL).UTC()}
	spent, err := s.store.RotateRefreshToken(ctx, hashToken(refreshToken), next, now)
	switch {
	case errors.Is(err, store.ErrRefreshReused):
		s.log.WarnContext(ctx, "refresh token reuse detected; session revoked", "error", err.Error())
		add(ctx, s.metrics.reuse, "", "")
		s.audit(ctx, "", "iam.auth.refresh", err, "refresh token reuse detected; session revoked")
		return nil, ErrInvalidGrant
	case errors.Is(err, store.ErrRefreshInvalid):
		s.audit(ctx, "", "iam.auth.refresh", err, "invalid refresh token")
		return nil, ErrInvalidGrant
	case err != nil:
		return nil, fmt.Errorf("auth: refresh: %w", err)
	}
	at, err := s.issueAccess(spent.PrincipalKind, spent.Subject, spent.ClientID, spent.Scope, now)
	if err != nil {
		return nil, err
	}
	add(ctx, s.metrics.issued, "grant", "refresh_token")
	s.audit(ctx, member(spent.PrincipalKind, spent.Subject), "iam.auth.refresh", nil, "")
	return &TokenSet{AccessToken: at, ExpiresIn: s.cfg.AccessTokenTTL, RefreshToken: rt, RefreshExpireTime: next.ExpiresAt, Scope: spent.Scope}, nil
}

// AuthenticateClient checks a service account's client credentials:
// clientID is the service account id, secret one of its keys' secrets.
func (s *Service) AuthenticateClient(ctx context.Context, clientID, secret string) (*store.ServiceAccount, error) {
	now := s.cfg.Now()
	keyID, ok := parseSecret(secret)
	if !ok || clientID == "" || len(clientID) > maxOpaqueLen {
		return nil, ErrInvalidClient
	}
	key, err := s.store.GetServiceAccountKey(ctx, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidClient
	}
	if err != nil {
		return nil, fmt.Errorf("auth: client lookup: %w", err)
	}
	match := subtle.ConstantTimeCompare(hashToken(secret), key.SecretHash) == 1
	if !match || key.ServiceAccountID != clientID || key.Disabled ||
		(!key.ExpireTime.IsZero() && !now.Before(key.ExpireTime)) {
		return nil, ErrInvalidClient
	}
	sa, err := s.store.GetServiceAccount(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidClient
	}
	if err != nil {
		return nil, fmt.Errorf("auth: client lookup: %w", err)
	}
	if sa.Disabled {
		return nil, ErrInvalidClient
	}
	return sa, nil
}

// ClientCredentials runs the client-credentials grant (RFC 6749 §4.4). No
// refresh token is issued (§4.4.3): the client can always authenticate
// again.
func (s *Service) ClientCredentials(ctx context.Context, clientID, secret, scope string) (*TokenSet, error) {
	sa, err := s.AuthenticateClient(ctx, clientID, secret)
	if err != nil {
		s.audit(ctx, "serviceAccount:"+clientID, "iam.auth.clientCredentials", err, "")
		return nil, err
	}
	if !validScope(scope) {
		return nil, ErrInvalidScope
	}
	at, err := s.issueAccess(store.KindServiceAccount, sa.ID, sa.ID, scope, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "client credentials token issued", "service_account_id", sa.ID)
	add(ctx, s.metrics.issued, "grant", "client_credentials")
	s.audit(ctx, "serviceAccount:"+sa.ID, "iam.auth.clientCredentials", nil, "")
	return &TokenSet{AccessToken: at, ExpiresIn: s.cfg.AccessTokenTTL, Scope: scope}, nil
}

// validScope accepts RFC 6749 §3.3 scope tokens separated by single spaces.
func validScope(scope string) bool {
	if scope == "" {
		return true
	}
	if len(scope) > 1024 {
		return false
	}
	for _, tok := range strings.Split(scope, " ") {
		if tok == "" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return false
			}
		}
	}
	return true
}

// NewClientSecret returns a fresh secret for key keyID and the hash to store.
func NewClientSecret(keyID string) (secret string, hash []byte, err error) {
	r, err := randomToken("")
	if err != nil {
		return "", nil, err
	}
	secret = secretPrefix + keyID + "." + r
	return secret, hashToken(secret), nil
}

// parseSecret extracts the key id from a client secret.
func parseSecret(secret string) (keyID string, ok bool) {
	if len(secret) > maxOpaqueLen || !strings.HasPrefix(secret, secretPrefix) {
		return "", false
	}
	keyID, _, ok = strings.Cut(secret[len(secretPrefix):], ".")
	return keyID, ok && keyID != ""
}

// Revoke revokes an access token (until it expires) or a refresh token's
// whole family. Unknown and invalid tokens are not an error (RFC 7009 §2.2).
// The hint only decides which kind is tried first.
func (s *Service) Revoke(ctx context.Context, tok, hint string) error {
	tryRefresh := func() (bool, error) {
		if !looksLikeRefresh(tok) {
			return false, nil
		}
		rt, _, err := s.store.GetRefreshToken(ctx, hashToken(tok))
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("auth: revoke: %w", err)
		}
		if err := s.store.RevokeRefreshFamily(ctx, rt.FamilyID, "revoked", s.cfg.Now()); err != nil {
			return false, fmt.Errorf("auth: revoke: %w", err)
		}
		add(ctx, s.metrics.revoked, "token_type", "refresh_token")
		return true, nil
	}
	tryAccess := func() (bool, error) {
		c, err := s.verifier.Verify(tok, s.cfg.Now(), s.cfg.Issuer, s.cfg.Audience)
		if err != nil {
			return false, nil
		}
		if err := s.store.RevokeAccessToken(ctx, c.ID, c.ExpiresAt); err != nil {
			return false, fmt.Errorf("auth: revoke: %w", err)
		}
		add(ctx, s.metrics.revoked, "token_type", "access_token")
		return true, nil
	}
	order := []func() (bool, error){tryAccess, tryRefresh}
	if hint == "refresh_token" {
		order = []func() (bool, error){tryRefresh, tryAccess}
	}
	for _, try := range order {
		done, err := try()
		if done && err == nil {
			s.audit(ctx, "", "iam.auth.revoke", nil, "")
		}
		if err != nil || done {
			return err
		}
	}
	return nil
}

// Introspection is an RFC 7662 answer. When Active is false nothing else is
// set.
type Introspection struct {
	Active        bool
	TokenType     string // "access_token" or "refresh_token"
	Subject       string
	PrincipalKind string
	Username      string
	ClientID      string
	Scope         string
	Audience      []string
	Issuer        string
	JWTID         string
	ExpiresAt     time.Time
	IssuedAt      time.Time
	NotBefore     time.Time
}

// Introspect reports whether tok is currently valid and what it says.
// Anything that is not valid (malformed, expired, revoked, spent, of a
// disabled or deleted principal) is simply inactive.
func (s *Service) Introspect(ctx context.Context, tok string) (*Introspection, error) {
	inactive := &Introspection{}
	now := s.cfg.Now()
	if looksLikeRefresh(tok) {
		rt, fam, err := s.store.GetRefreshToken(ctx, hashToken(tok))
		if errors.Is(err, store.ErrNotFound) {
			return inactive, nil
		}
		if err != nil {
			return nil, fmt.Errorf("auth: introspect: %w", err)
		}
		if !rt.SpentAt.IsZero() || !fam.RevokedAt.IsZero() || !now.Before(rt.ExpiresAt) {
			return inactive, nil
		}
		name, ok, err := s.principalName(ctx, rt.PrincipalKind, rt.Subject, time.Time{})
		if err != nil || !ok {
			return inactive, err
		}
		return &Introspection{
			Active: true, TokenType: "refresh_token", Subject: rt.Subject, PrincipalKind: rt.PrincipalKind,
			Username: name, ClientID: rt.ClientID, Scope: rt.Scope, Audience: rt.Audience, Issuer: s.cfg.Issuer,
			ExpiresAt: rt.ExpiresAt, IssuedAt: rt.IssuedAt,
		}, nil
	}
	p, err := s.Authenticate(ctx, tok)
	if errors.Is(err, ErrUnauthenticated) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	c := p.Claims
	return &Introspection{
		Active: true, TokenType: "access_token", Subject: c.Subject, PrincipalKind: p.Kind, Username: p.Name,
		ClientID: c.ClientID, Scope: c.Scope, Audience: c.Audience, Issuer: c.Issuer, JWTID: c.ID,
		ExpiresAt: c.ExpiresAt, IssuedAt: c.IssuedAt, NotBefore: c.NotBefore,
	}, nil
}

// principalName returns the name of an enabled principal; ok is false when
// it is disabled or gone, or (for a non-zero issuedAt) when the user's
// credentials changed after the token was issued, so a password change or
// MFA reset also ends outstanding access tokens.
func (s *Service) principalName(ctx context.Context, kind, id string, issuedAt time.Time) (string, bool, error) {
	switch kind {
	case store.KindUser:
		u, err := s.store.GetUser(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("auth: principal lookup: %w", err)
		}
		// iat has whole seconds, so compare at that precision: a token
		// issued in the second of the change stays valid.
		stale := !issuedAt.IsZero() && issuedAt.Before(u.PasswordChangedAt.Truncate(time.Second))
		return u.Name, !u.Disabled && !stale, nil
	case store.KindServiceAccount:
		sa, err := s.store.GetServiceAccount(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("auth: principal lookup: %w", err)
		}
		return sa.Name, !sa.Disabled, nil
	}
	return "", false, nil
}

// Authenticate checks an access token presented by a caller: signature and
// claims, not revoked, principal still enabled. Every failure is
// ErrUnauthenticated (store faults excepted).
func (s *Service) Authenticate(ctx context.Context, accessToken string) (*Principal, error) {
	c, err := s.verifier.Verify(accessToken, s.cfg.Now(), s.cfg.Issuer, s.cfg.Audience)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	revoked, err := s.store.AccessTokenRevoked(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("auth: revocation lookup: %w", err)
	}
	if revoked {
		return nil, fmt.Errorf("%w: token revoked", ErrUnauthenticated)
	}
	name, ok, err := s.principalName(ctx, c.PrincipalKind, c.Subject, c.IssuedAt)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: principal disabled or deleted", ErrUnauthenticated)
	}
	return &Principal{Kind: c.PrincipalKind, ID: c.Subject, Name: name, Claims: c}, nil
}

// IsAdmin reports whether p may administer identities: a user in the
// AdminGroup. This is the interim rule until the policy engine decides.
func (s *Service) IsAdmin(ctx context.Context, p *Principal) (bool, error) {
	if p.Kind != store.KindUser {
		return false, nil
	}
	g, err := s.store.GetGroupByName(ctx, AdminGroup)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("auth: admin lookup: %w", err)
	}
	ok, err := s.store.IsGroupMember(ctx, g.ID, p.ID)
	if err != nil {
		return false, fmt.Errorf("auth: admin lookup: %w", err)
	}
	return ok, nil
}
