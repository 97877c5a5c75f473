package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Keyring defaults and bounds.
const (
	// DefaultSigningLifetime is how long a new key may sign. A week keeps
	// the window a leaked key is useful short while rotating rarely enough
	// that relying parties' JWKS caches stay warm.
	DefaultSigningLifetime = 7 * 24 * time.Hour
	// DefaultMaxTokenTTL is the longest access-token lifetime Issue
	// accepts. Access tokens are bearer credentials that cannot be revoked
	// before they expire, so they are kept short (RFC 9700 §2.3 spirit).
	DefaultMaxTokenTTL = time.Hour

	minSigningLifetime = time.Minute
	maxSigningLifetime = 366 * 24 * time.Hour
	maxTokenTTLCeiling = 24 * time.Hour

	// kidBytes of randomness per key ID; 128 bits makes collisions, and
	// guessing the next kid, irrelevant.
	kidBytes = 16
	// maxKeys bounds a keyring or JWKS so a bad blob cannot balloon.
	maxKeys = 100

	keyringFormatVersion = 1
)

// KeyringOptions configure a Keyring. Zero fields take the defaults.
type KeyringOptions struct {
	// SigningLifetime is how long after creation a key may sign (its
	// not_after for signing). Rotate before it passes; RotationDue says when.
	SigningLifetime time.Duration
	// MaxTokenTTL is the longest lifetime Issue accepts. It also sets how
	// long a rotated-out key stays verifiable.
	MaxTokenTTL time.Duration
}

func (o KeyringOptions) withDefaults() (KeyringOptions, error) {
	if o.SigningLifetime == 0 {
		o.SigningLifetime = DefaultSigningLifetime
	}
	if o.MaxTokenTTL == 0 {
		o.MaxTokenTTL = DefaultMaxTokenTTL
	}
	if o.SigningLifetime < minSigningLifetime || o.SigningLifetime > maxSigningLifetime {
		return o, fmt.Errorf("token: signing lifetime %v outside [%v,%v]", o.SigningLifetime, minSigningLifetime, maxSigningLifetime)
	}
	if o.MaxTokenTTL < time.Second || o.MaxTokenTTL > maxTokenTTLCeiling {
		return o, fmt.Errorf("token: max token TTL %v outside [1s,%v]", o.MaxTokenTTL, maxTokenTTLCeiling)
	}
	return o, nil
}

// signingKey is one Ed25519 key and its life cycle.
type signingKey struct {
	kid       string
	priv      ed25519.PrivateKey
	pub       ed25519.PublicKey
	createdAt time.Time
	// signNotAfter: the key may not sign at or after this instant.
	signNotAfter time.Time
	// deactivatedAt is when Rotate replaced this key; zero while active.
	deactivatedAt time.Time
	// maxTTL is the longest token lifetime that was allowed while this key
	// could sign. It is persisted and only ever raised (see Unmarshal), so
	// lowering the configured TTL cannot prune a key early.
	maxTTL time.Duration
}

func (k *signingKey) active() bool { return k.deactivatedAt.IsZero() }

// lastSign is the latest instant at which this key can have signed.
func (k *signingKey) lastSign() time.Time {
	if !k.active() && k.deactivatedAt.Before(k.signNotAfter) {
		return k.deactivatedAt
	}
	return k.signNotAfter
}

// retireAfter is the instant from which no token signed by this key can be
// valid: its last signing moment plus the longest lifetime a token could have.
func (k *signingKey) retireAfter() time.Time { return k.lastSign().Add(k.maxTTL) }

// Keyring holds the signing keys. It is safe for concurrent use: issuing and
// verifying take a read lock, Rotate and Prune a write lock. Persisting the
// keyring after Rotate or Prune is the caller's job.
type Keyring struct {
	mu   sync.RWMutex
	opts KeyringOptions
	// keys is newest first; keys[0] is the active key.
	keys []*signingKey
}

// NewKeyring returns a keyring with one freshly generated active key.
func NewKeyring(now time.Time, opts KeyringOptions) (*Keyring, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	k, err := newSigningKey(now, o)
	if err != nil {
		return nil, err
	}
	return &Keyring{opts: o, keys: []*signingKey{k}}, nil
}

func newSigningKey(now time.Time, o KeyringOptions) (*signingKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("token: generating signing key: %w", err)
	}
	kid, err := randomID(kidBytes)
	if err != nil {
		return nil, fmt.Errorf("token: generating key ID: %w", err)
	}
	now = now.UTC()
	return &signingKey{
		kid:          kid,
		priv:         priv,
		pub:          pub,
		createdAt:    now,
		signNotAfter: now.Add(o.SigningLifetime),
		maxTTL:       o.MaxTokenTTL,
	}, nil
}

// randomID returns n random bytes as unpadded base64url, safe in URLs, JSON
// and HTTP headers without escaping.
func randomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Options returns the keyring's effective options.
func (r *Keyring) Options() KeyringOptions { return r.opts }

// Rotate creates a new active key and retires the current one from signing.
// The old key stays verifiable until its retireAfter time. It returns the new
// key's kid.
func (r *Keyring) Rotate(now time.Time) (string, error) {
	k, err := newSigningKey(now, r.opts)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) >= maxKeys {
		return "", fmt.Errorf("token: keyring already holds %d keys; call Prune", len(r.keys))
	}
	for _, old := range r.keys {
		if old.active() {
			old.deactivatedAt = now.UTC()
		}
	}
	r.keys = append([]*signingKey{k}, r.keys...)
	return k.kid, nil
}

// RotationDue reports whether the active key can no longer sign at now.
// Callers typically rotate somewhat before this (for example when
// RotationDue(now.Add(margin)) is true) so that a failed rotation job does not
// stop token issuance.
func (r *Keyring) RotationDue(now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return !now.Before(r.keys[0].signNotAfter)
}

// Prune drops keys that no valid token can reference any more (now at or past
// their retireAfter) and returns their kids. The active key is never pruned.
func (r *Keyring) Prune(now time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var dropped []string
	kept := r.keys[:0:0]
	for _, k := range r.keys {
		if !k.active() && !now.Before(k.retireAfter()) {
			dropped = append(dropped, k.kid)
			continue
		}
		kept = append(kept, k)
	}
	r.keys = kept
	return dropped
}

// ActiveKeyID returns the kid new tokens are signed with.
func (r *Keyring) ActiveKeyID() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys[0].kid
}

// KeyInfo is public metadata about one key, for operators and tests.
type KeyInfo struct {
	KeyID         string
	Active        bool
	CreatedAt     time.Time
	SignNotAfter  time.Time
	DeactivatedAt time.Time // zero while active
	RetireAfter   time.Time // Prune drops the key from this instant
}

// Keys describes the keys held, newest first.
func (r *Keyring) Keys() []KeyInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]KeyInfo, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, KeyInfo{
			KeyID:         k.kid,
			Active:        k.active(),
			CreatedAt:     k.createdAt,
			SignNotAfter:  k.signNotAfter,
			DeactivatedAt: k.deactivatedAt,
			RetireAfter:   k.retireAfter(),
		})
	}
	return out
}

// JWKS returns the public JSON Web Key Set of all keys held (not yet pruned),
// newest first, for the jwks_uri endpoint. Each key carries kid, alg EdDSA
// and use sig; go-jose renders it as kty OKP, crv Ed25519.
func (r *Keyring) JWKS() jose.JSONWebKeySet {
	r.mu.RLock()
	defer r.mu.RUnlock()
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(r.keys))}
	for _, k := range r.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       slices.Clone(k.pub),
			KeyID:     k.kid,
			Algorithm: string(jose.EdDSA),
			Use:       "sig",
		})
	}
	return set
}

// lookup returns the public key for kid if it is held and not past its
// retireAfter at now. Checking retirement here, not only in Prune, means a
// stolen old key stops being accepted on schedule even if Prune never runs.
func (r *Keyring) lookup(kid string, now time.Time) (ed25519.PublicKey, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range r.keys {
		if k.kid == kid {
			if !now.Before(k.retireAfter()) {
				return nil, fmt.Errorf("%w: key %s retired at %s", ErrUnknownKey, kid, k.retireAfter().Format(time.RFC3339))
			}
			return k.pub, nil
		}
	}
	return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, truncate(kid))
}

// String describes the keyring without key material, so that formatting it
// with %v or %+v in a log line is harmless.
func (r *Keyring) String() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	kids := make([]string, len(r.keys))
	for i, k := range r.keys {
		kids[i] = k.kid
	}
	return fmt.Sprintf("token.Keyring{active: %s, keys: [%s]}", r.keys[0].kid, strings.Join(kids, " "))
}

// GoString is String, so %#v does not dump private keys either.
func (r *Keyring) GoString() string { return r.String() }

// Serialised form. Private keys are stored as their 32-byte Ed25519 seed
// (RFC 8032 private key) in base64url; the public key is derived on load.
type keyringJSON struct {
	Version int       `json:"version"`
	Keys    []keyJSON `json:"keys"`
}

type keyJSON struct {
	KeyID         string    `json:"kid"`
	Seed          string    `json:"seed"`
	CreatedAt     time.Time `json:"created_at"`
	SignNotAfter  time.Time `json:"sign_not_after"`
	DeactivatedAt time.Time `json:"deactivated_at,omitzero"`
	MaxTTLSeconds int64     `json:"max_token_ttl_seconds"`
}

// Marshal serialises the whole keyring, private keys included, as JSON. The
// result is a secret. It is deliberately not a json.Marshaler method, so that
// a Keyring embedded in some other struct is never serialised by accident.
func (r *Keyring) Marshal() ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := keyringJSON{Version: keyringFormatVersion}
	for _, k := range r.keys {
		out.Keys = append(out.Keys, keyJSON{
			KeyID:         k.kid,
			Seed:          base64.RawURLEncoding.EncodeToString(k.priv.Seed()),
			CreatedAt:     k.createdAt,
			SignNotAfter:  k.signNotAfter,
			DeactivatedAt: k.deactivatedAt,
			MaxTTLSeconds: int64(k.maxTTL / time.Second),
		})
	}
	return json.Marshal(out)
}

// Unmarshal restores a keyring written by Marshal, applying opts (zero fields
// default) to future keys and issuing. A key's recorded maximum token TTL is
// raised to opts.MaxTokenTTL if that is larger, never lowered, so changing the
// configuration cannot make a key disappear while tokens it signed are valid.
// Errors wrap ErrInvalidKeyring and never include key material.
func Unmarshal(data []byte, opts KeyringOptions) (*Keyring, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) (*Keyring, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidKeyring, fmt.Sprintf(format, a...))
	}
	var in keyringJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		// json errors quote offsets and types, not values.
		return bad("decoding: %v", err)
	}
	if in.Version != keyringFormatVersion {
		return bad("unsupported version %d", in.Version)
	}
	if len(in.Keys) == 0 || len(in.Keys) > maxKeys {
		return bad("%d keys, want 1..%d", len(in.Keys), maxKeys)
	}
	seen := map[string]bool{}
	keys := make([]*signingKey, 0, len(in.Keys))
	active := 0
	for i, kj := range in.Keys {
		if !validKID(kj.KeyID) {
			return bad("key %d: invalid kid", i)
		}
		if seen[kj.KeyID] {
			return bad("duplicate kid %s", kj.KeyID)
		}
		seen[kj.KeyID] = true
		seed, err := base64.RawURLEncoding.Strict().DecodeString(kj.Seed)
		if err != nil || len(seed) != ed25519.SeedSize {
			return bad("key %s: seed is not %d base64url bytes", kj.KeyID, ed25519.SeedSize)
		}
		if kj.CreatedAt.IsZero() || !kj.SignNotAfter.After(kj.CreatedAt) {
			return bad("key %s: sign_not_after must follow created_at", kj.KeyID)
		}
		if kj.MaxTTLSeconds < 1 || kj.MaxTTLSeconds > int64(maxTokenTTLCeiling/time.Second) {
			return bad("key %s: max_token_ttl_seconds %d out of range", kj.KeyID, kj.MaxTTLSeconds)
		}
		priv := ed25519.NewKeyFromSeed(seed)
		k := &signingKey{
			kid:           kj.KeyID,
			priv:          priv,
			pub:           priv.Public().(ed25519.PublicKey),
			createdAt:     kj.CreatedAt.UTC(),
			signNotAfter:  kj.SignNotAfter.UTC(),
			deactivatedAt: kj.DeactivatedAt.UTC(),
			maxTTL:        max(time.Duration(kj.MaxTTLSeconds)*time.Second, o.MaxTokenTTL),
		}
		if kj.DeactivatedAt.IsZero() {
			k.deactivatedAt = time.Time{}
			active++
		}
		keys = append(keys, k)
	}
	if active != 1 {
		return bad("%d active keys, want exactly 1", active)
	}
	// Marshal writes keys in rotation order, newest first, and Rotate only
	// ever activates the key it just created, so the active key must lead.
	// The order is taken from the blob rather than from created_at so that
	// a clock that stepped backwards between rotations cannot reorder keys.
	if !keys[0].active() {
		return bad("active key is not the first (newest) key")
	}
	return &Keyring{opts: o, keys: keys}, nil
}

// validKID accepts the URL-safe kids this package generates (and, for
// robustness, any short base64url string).
func validKID(kid string) bool {
	if kid == "" || len(kid) > 64 {
		return false
	}
	for i := 0; i < len(kid); i++ {
		if !isB64URL(kid[i]) {
			return false
		}
	}
	return true
}

func isB64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// truncate shortens attacker-supplied strings before they go into error
// messages (and from there into logs).
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
