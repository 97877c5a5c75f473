// Package store defines how IAM persists identities, refresh tokens and its
// signing keyring, and provides the embedded bbolt implementation used when
// no external store is configured.
//
// The Store interface is deliberately expressed in domain operations
// ("rotate this refresh token", "disable this user") rather than as a generic
// key-value API: each operation is one atomic transaction, and the
// invariants that must hold together (a disabled user has no live sessions, a
// refresh token is spent at most once, a name maps to exactly one id) are
// enforced inside it. A Chainfire-backed implementation can map each
// operation onto one etcd transaction guarded by revision comparisons.
package store

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Errors returned by Store implementations, wrapped with detail. Test with
// errors.Is.
var (
	// ErrNotFound: the named object does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: an object with that id or name already exists.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrEtagMismatch: the caller's etag is not the object's current one.
	ErrEtagMismatch = errors.New("store: etag mismatch")
	// ErrInvalid: the operation is not valid for the object's current state
	// (for example a key for a service account that does not exist).
	ErrInvalid = errors.New("store: invalid operation")
	// ErrRefreshReused: a refresh token was presented after it had been
	// spent. Its whole family has been revoked in the same transaction.
	ErrRefreshReused = errors.New("store: refresh token reused")
	// ErrRefreshInvalid: the refresh token is unknown, expired, revoked, or
	// its principal is disabled or gone.
	ErrRefreshInvalid = errors.New("store: refresh token invalid")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store: closed")
)

// Principal kinds, as recorded with refresh tokens and in access tokens.
const (
	KindUser           = "user"
	KindServiceAccount = "service_account"
)

// Meta is the bookkeeping every identity object carries.
type Meta struct {
	CreateTime time.Time `json:"create_time"`
	UpdateTime time.Time `json:"update_time"`
	// Version starts at 1 and grows with every modification; the etag is
	// derived from it.
	Version uint64 `json:"version"`
}

// ETag is the opaque concurrency token derived from Version.
func (m *Meta) ETag() string { return strconv.FormatUint(m.Version, 10) }

// User is a person who logs in with a password.
type User struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	DisplayName  string `json:"display_name,omitempty"`
	Email        string `json:"email,omitempty"`
	PasswordHash string `json:"password_hash"`
	// PasswordChangedAt moves only when the password itself changes (not
	// when its hash is upgraded), and moving it revokes the user's sessions.
	PasswordChangedAt time.Time `json:"password_changed_at,omitzero"`
	Disabled          bool      `json:"disabled,omitempty"`
	// TOTPSecret is the base32 TOTP seed; empty when MFA is off.
	TOTPSecret string `json:"totp_secret,omitempty"`
	// TOTPLastCounter is the last accepted time step, so a code works once.
	TOTPLastCounter int64 `json:"totp_last_counter,omitempty"`
	// TOTPPendingSecret is an enrollment awaiting its first code.
	TOTPPendingSecret string `json:"totp_pending_secret,omitempty"`
	// RecoveryCodeHashes are the unspent recovery codes' digests.
	RecoveryCodeHashes []string `json:"recovery_code_hashes,omitempty"`
	Meta
}

// Group is a named set of users.
type Group struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name,omitempty"`
	Description string `json:"description,omitempty"`
	MemberCount int    `json:"member_count"`
	Meta
}

// ServiceAccount is a non-human principal.
type ServiceAccount struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name,omitempty"`
	Description string `json:"description,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
	Meta
}

// ServiceAccountKey is a client secret of a service account; only its
// SHA-256 is kept (the secret has 256 bits of entropy, so a slow hash adds
// nothing).
type ServiceAccountKey struct {
	ID               string    `json:"id"`
	ServiceAccountID string    `json:"service_account_id"`
	DisplayName      string    `json:"display_name,omitempty"`
	SecretHash       []byte    `json:"secret_hash"`
	Disabled         bool      `json:"disabled,omitempty"`
	ExpireTime       time.Time `json:"expire_time,omitzero"`
	Meta
}

// RefreshToken is one issued refresh token, keyed by the SHA-256 of its
// value. Tokens descending from one login (or one client-credentials grant)
// share a family.
type RefreshToken struct {
	Hash          []byte    `json:"hash"`
	FamilyID      string    `json:"family_id"`
	Subject       string    `json:"subject"`
	PrincipalKind string    `json:"principal_kind"`
	ClientID      string    `json:"client_id,omitempty"`
	Scope         string    `json:"scope,omitempty"`
	Audience      []string  `json:"audience"`
	IssuedAt      time.Time `json:"issued_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	// SpentAt is set when the token has been exchanged for a successor.
	SpentAt time.Time `json:"spent_at,omitzero"`
}

// RefreshFamily groups the refresh tokens of one session.
type RefreshFamily struct {
	ID        string    `json:"id"`
	Subject   string    `json:"subject"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt bounds the whole session, however often it is refreshed.
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// RevokeReason says why, for operators ("reuse", "revoked", ...).
	RevokeReason string `json:"revoke_reason,omitempty"`
}

// ListQuery selects one page of a listing.
type ListQuery struct {
	// PageSize is the most items to return; it must be positive.
	PageSize int
	// After is the cursor returned with the previous page; empty for the
	// first page.
	After string
	// Match, when set, keeps only the objects it accepts. It must be pure:
	// implementations may call it more than once per object.
	Match func(any) bool
}

// Store persists IAM's state. Every method is one atomic transaction;
// implementations are safe for concurrent use. Returned objects are copies
// the caller may modify.
//
// Update methods take the caller's etag (empty means unconditional) and a
// mutate function applied to a copy of the current object inside the
// transaction; ids and names cannot be changed. Mutate functions must be
// pure, because an implementation with optimistic transactions may retry.
type Store interface {
	// Users. Disabling a user, changing its PasswordChangedAt or deleting it
	// also revokes all its refresh-token families in the same transaction;
	// deleting it also removes its group memberships.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByName(ctx context.Context, name string) (*User, error)
	ListUsers(ctx context.Context, q ListQuery) ([]*User, string, error)
	UpdateUser(ctx context.Context, id, etag string, mutate func(*User) error) (*User, error)
	DeleteUser(ctx context.Context, id, etag string) error
	// UserGroups returns the ids of the groups the user belongs to.
	UserGroups(ctx context.Context, userID string) ([]string, error)

	// Groups. Membership changes bump the group's version.
	CreateGroup(ctx context.Context, g *Group) error
	GetGroup(ctx context.Context, id string) (*Group, error)
	GetGroupByName(ctx context.Context, name string) (*Group, error)
	ListGroups(ctx context.Context, q ListQuery) ([]*Group, string, error)
	UpdateGroup(ctx context.Context, id, etag string, mutate func(*Group) error) (*Group, error)
	DeleteGroup(ctx context.Context, id, etag string) error
	AddGroupMember(ctx context.Context, groupID, etag, userID string) (*Group, error)
	RemoveGroupMember(ctx context.Context, groupID, etag, userID string) (*Group, error)
	ListGroupMembers(ctx context.Context, groupID string, q ListQuery) ([]*User, string, error)
	IsGroupMember(ctx context.Context, groupID, userID string) (bool, error)

	// Service accounts. Disabling or deleting one revokes its refresh
	// families; deleting one deletes its keys.
	CreateServiceAccount(ctx context.Context, sa *ServiceAccount) error
	GetServiceAccount(ctx context.Context, id string) (*ServiceAccount, error)
	ListServiceAccounts(ctx context.Context, q ListQuery) ([]*ServiceAccount, string, error)
	UpdateServiceAccount(ctx context.Context, id, etag string, mutate func(*ServiceAccount) error) (*ServiceAccount, error)
	DeleteServiceAccount(ctx context.Context, id, etag string) error

	// Service account keys. Creating one fails with ErrInvalid when the
	// service account does not exist.
	CreateServiceAccountKey(ctx context.Context, k *ServiceAccountKey) error
	GetServiceAccountKey(ctx context.Context, id string) (*ServiceAccountKey, error)
	ListServiceAccountKeys(ctx context.Context, serviceAccountID string, q ListQuery) ([]*ServiceAccountKey, string, error)
	UpdateServiceAccountKey(ctx context.Context, id, etag string, mutate func(*ServiceAccountKey) error) (*ServiceAccountKey, error)
	DeleteServiceAccountKey(ctx context.Context, id, etag string) error

	// CreateRefreshFamily starts a session with its first token.
	CreateRefreshFamily(ctx context.Context, f *RefreshFamily, first *RefreshToken) error
	// RotateRefreshToken spends the token with hash oldHash and stores next
	// in its family, checking in the same transaction that the token is
	// unspent and unexpired, its family live and its principal enabled.
	// next's FamilyID, Subject, PrincipalKind, ClientID, Scope and Audience
	// are copied from the spent token. It returns the spent token. If the
	// token was already spent, the family is revoked (and that revocation
	// committed) and the error wraps ErrRefreshReused. Of any number of
	// concurrent calls with the same oldHash, at most one succeeds.
	RotateRefreshToken(ctx context.Context, oldHash []byte, next *RefreshToken, now time.Time) (*RefreshToken, error)
	// GetRefreshToken returns a token and its family.
	GetRefreshToken(ctx context.Context, hash []byte) (*RefreshToken, *RefreshFamily, error)
	// RevokeRefreshFamily revokes a session; revoking twice is not an error.
	RevokeRefreshFamily(ctx context.Context, familyID, reason string, now time.Time) error

	// RevokeAccessToken records a revoked access token id until exp.
	RevokeAccessToken(ctx context.Context, jti string, exp time.Time) error
	// AccessTokenRevoked reports whether jti was revoked.
	AccessTokenRevoked(ctx context.Context, jti string) (bool, error)

	// LoadOrCreateKeyring returns the stored signing keyring, or stores and
	// returns the result of create when there is none.
	LoadOrCreateKeyring(ctx context.Context, create func() ([]byte, error)) ([]byte, error)
	// SaveKeyring replaces the stored keyring (after rotation or pruning).
	SaveKeyring(ctx context.Context, data []byte) error

	// Bootstrap creates the first administrator and the group that makes it
	// one, with the membership, in one transaction, but only if the store
	// has never been bootstrapped. It reports whether it did.
	Bootstrap(ctx context.Context, admin *User, admins *Group, now time.Time) (bool, error)

	// Sweep deletes refresh tokens, families and access-token revocations
	// that expired before now, returning how many records it removed.
	Sweep(ctx context.Context, now time.Time) (int, error)

	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
	Close() error
}
