package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. Secondary indexes map a unique attribute (or a composite
// "parent\x00child" key) to the primary id and are maintained in the same
// transaction as the object they index.
var (
	bktUsers          = []byte("users")
	bktUsersByName    = []byte("users_by_name")
	bktGroups         = []byte("groups")
	bktGroupsByName   = []byte("groups_by_name")
	bktMembers        = []byte("group_members")    // groupID \x00 userID
	bktMemberships    = []byte("user_memberships") // userID \x00 groupID
	bktSAs            = []byte("service_accounts")
	bktSAsByName      = []byte("service_accounts_by_name")
	bktKeys           = []byte("sa_keys")
	bktKeysBySA       = []byte("sa_keys_by_sa") // saID \x00 keyID
	bktRefresh        = []byte("refresh_tokens")
	bktFamilies       = []byte("refresh_families")
	bktFamilyTokens   = []byte("refresh_family_tokens") // familyID \x00 hash
	bktFamiliesBySubj = []byte("refresh_families_by_subject")
	bktRevokedJTI     = []byte("revoked_access_tokens")
	bktMeta           = []byte("meta")

	keyKeyring      = []byte("keyring")
	keyBootstrapped = []byte("bootstrapped")

	allBuckets = [][]byte{
		bktUsers, bktUsersByName, bktGroups, bktGroupsByName, bktMembers, bktMemberships,
		bktSAs, bktSAsByName, bktKeys, bktKeysBySA, bktRefresh, bktFamilies, bktFamilyTokens,
		bktFamiliesBySubj, bktRevokedJTI, bktMeta,
	}
)

// Bolt is the embedded Store: one bbolt file, one write transaction at a
// time. bbolt serialises writers, which is what makes check-and-spend of a
// refresh token race-free without any extra locking.
type Bolt struct {
	db       *bolt.DB
	closed   atomic.Bool
	policy   policyState
	identity identityState
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (creating if needed) the store in dir. The file is private
// to the service user because it holds password hashes and signing keys.
func OpenBolt(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, "iam.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("creating bucket %s: %w", b, err)
			}
		}
		return ensurePolicyBuckets(tx)
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: initialising %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// Close closes the database file.
func (s *Bolt) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Ping fails once the store is closed.
func (s *Bolt) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.view(ctx, func(*bolt.Tx) error { return nil })
}

func (s *Bolt) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return s.db.View(fn)
}

func (s *Bolt) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return s.db.Update(fn)
}

// kind describes how one object type is stored, so that create, get,
// update, delete and list are written once for all of them.
type kind[T any] struct {
	name   string
	bucket []byte
	byName []byte // nil when the kind has no name index
	id     func(*T) string
	nameOf func(*T) string
	meta   func(*T) *Meta
}

var (
	userKind = kind[User]{
		name: "user", bucket: bktUsers, byName: bktUsersByName,
		id: func(u *User) string { return u.ID }, nameOf: func(u *User) string { return u.Name },
		meta: func(u *User) *Meta { return &u.Meta },
	}
	groupKind = kind[Group]{
		name: "group", bucket: bktGroups, byName: bktGroupsByName,
		id: func(g *Group) string { return g.ID }, nameOf: func(g *Group) string { return g.Name },
		meta: func(g *Group) *Meta { return &g.Meta },
	}
	saKind = kind[ServiceAccount]{
		name: "service account", bucket: bktSAs, byName: bktSAsByName,
		id:     func(a *ServiceAccount) string { return a.ID },
		nameOf: func(a *ServiceAccount) string { return a.Name },
		meta:   func(a *ServiceAccount) *Meta { return &a.Meta },
	}
	keyKind = kind[ServiceAccountKey]{
		name: "service account key", bucket: bktKeys,
		id:     func(k *ServiceAccountKey) string { return k.ID },
		nameOf: func(*ServiceAccountKey) string { return "" },
		meta:   func(k *ServiceAccountKey) *Meta { return &k.Meta },
	}
)

func getTx[T any](tx *bolt.Tx, k kind[T], id string) (*T, error) {
	raw := tx.Bucket(k.bucket).Get([]byte(id))
	if raw == nil {
		return nil, fmt.Errorf("%w: %s %q", ErrNotFound, k.name, id)
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("store: decoding %s %q: %w", k.name, id, err)
	}
	return v, nil
}

func putTx[T any](tx *bolt.Tx, k kind[T], v *T) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encoding %s: %w", k.name, err)
	}
	return tx.Bucket(k.bucket).Put([]byte(k.id(v)), raw)
}

func createTx[T any](tx *bolt.Tx, k kind[T], v *T) error {
	id := k.id(v)
	if id == "" {
		return fmt.Errorf("%w: %s without id", ErrInvalid, k.name)
	}
	if tx.Bucket(k.bucket).Get([]byte(id)) != nil {
		return fmt.Errorf("%w: %s id %q", ErrAlreadyExists, k.name, id)
	}
	if k.byName != nil {
		name := []byte(k.nameOf(v))
		idx := tx.Bucket(k.byName)
		if idx.Get(name) != nil {
			return fmt.Errorf("%w: %s name %q", ErrAlreadyExists, k.name, name)
		}
		if err := idx.Put(name, []byte(id)); err != nil {
			return err
		}
	}
	m := k.meta(v)
	m.Version = 1
	if m.CreateTime.IsZero() {
		m.CreateTime = time.Now().UTC()
	}
	m.UpdateTime = m.CreateTime
	return putTx(tx, k, v)
}

func checkEtag(m *Meta, etag string) error {
	if etag != "" && etag != m.ETag() {
		return fmt.Errorf("%w: have %q, current is %q", ErrEtagMismatch, etag, m.ETag())
	}
	return nil
}

// updateTx applies mutate to a copy of the stored object and stores the
// result with a new version. It returns the old and new objects.
func updateTx[T any](tx *bolt.Tx, k kind[T], id, etag string, mutate func(*T) error) (*T, *T, error) {
	old, err := getTx(tx, k, id)
	if err != nil {
		return nil, nil, err
	}
	if err := checkEtag(k.meta(old), etag); err != nil {
		return nil, nil, err
	}
	next, err := getTx(tx, k, id) // an independent copy for mutate
	if err != nil {
		return nil, nil, err
	}
	if err := mutate(next); err != nil {
		return nil, nil, err
	}
	if k.id(next) != id || k.nameOf(next) != k.nameOf(old) {
		return nil, nil, fmt.Errorf("%w: the id and name of a %s cannot change", ErrInvalid, k.name)
	}
	m := k.meta(next)
	*m = *k.meta(old)
	m.Version++
	m.UpdateTime = time.Now().UTC()
	if err := putTx(tx, k, next); err != nil {
		return nil, nil, err
	}
	return old, next, nil
}

func deleteTx[T any](tx *bolt.Tx, k kind[T], id, etag string) (*T, error) {
	old, err := getTx(tx, k, id)
	if err != nil {
		return nil, err
	}
	if err := checkEtag(k.meta(old), etag); err != nil {
		return nil, err
	}
	if k.byName != nil {
		if err := tx.Bucket(k.byName).Delete([]byte(k.nameOf(old))); err != nil {
			return nil, err
		}
	}
	if err := tx.Bucket(k.bucket).Delete([]byte(id)); err != nil {
		return nil, err
	}
	return old, nil
}

// listIndex walks index keys starting with prefix, in key order, after the
// cursor, resolving each to an object with load, and returns at most
// q.PageSize matches plus the cursor of the last one if more may follow.
func listIndex[T any](tx *bolt.Tx, index, prefix []byte, q ListQuery, load func(k, v []byte) (*T, error)) ([]*T, string, error) {
	if q.PageSize <= 0 {
		return nil, "", fmt.Errorf("%w: page size must be positive", ErrInvalid)
	}
	c := tx.Bucket(index).Cursor()
	var k, v []byte
	if q.After == "" {
		k, v = c.Seek(prefix)
	} else {
		after := append(append([]byte(nil), prefix...), q.After...)
		k, v = c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	var out []*T
	var last string
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		obj, err := load(k, v)
		if err != nil {
			return nil, "", err
		}
		if obj == nil || (q.Match != nil && !q.Match(obj)) {
			continue
		}
		if len(out) == q.PageSize {
			// There is at least one more match: hand out a cursor.
			return out, last, nil
		}
		out = append(out, obj)
		last = string(k[len(prefix):])
	}
	return out, "", nil
}

func listByName[T any](tx *bolt.Tx, k kind[T], q ListQuery) ([]*T, string, error) {
	return listIndex(tx, k.byName, nil, q, func(_, id []byte) (*T, error) {
		return getTx(tx, k, string(id))
	})
}

func compositeKey(a, b string) []byte {
	out := make([]byte, 0, len(a)+1+len(b))
	out = append(out, a...)
	out = append(out, 0)
	return append(out, b...)
}

func childID(key, prefix []byte) string { return string(key[len(prefix):]) }

// --- users ---

// CreateUser stores a new user.
func (s *Bolt) CreateUser(ctx context.Context, u *User) error {
	return s.write(ctx, IdentityChange{Action: "iam.users.create", Target: u.ID}, func(tx *bolt.Tx) error { return createTx(tx, userKind, u) })
}

// GetUser returns the user with id.
func (s *Bolt) GetUser(ctx context.Context, id string) (u *User, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { u, err = getTx(tx, userKind, id); return err })
	return u, err
}

// GetUserByName returns the user called name.
func (s *Bolt) GetUserByName(ctx context.Context, name string) (u *User, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bktUsersByName).Get([]byte(name))
		if id == nil {
			return fmt.Errorf("%w: user name %q", ErrNotFound, name)
		}
		u, err = getTx(tx, userKind, string(id))
		return err
	})
	return u, err
}

// ListUsers lists users by name.
func (s *Bolt) ListUsers(ctx context.Context, q ListQuery) (out []*User, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { out, next, err = listByName(tx, userKind, q); return err })
	return out, next, err
}

// UpdateUser modifies a user; see Store for the sessions it revokes.
func (s *Bolt) UpdateUser(ctx context.Context, id, etag string, mutate func(*User) error) (u *User, err error) {
	err = s.write(ctx, IdentityChange{Action: "iam.users.update", Target: id, Detail: ""}, func(tx *bolt.Tx) error {
		old, next, err := updateTx(tx, userKind, id, etag, mutate)
		if err != nil {
			return err
		}
		if (next.Disabled && !old.Disabled) || !next.PasswordChangedAt.Equal(old.PasswordChangedAt) {
			if err := revokeSubjectTx(tx, id, "credentials changed", time.Now()); err != nil {
				return err
			}
		}
		u = next
		return nil
	})
	return u, err
}

// DeleteUser deletes a user, its memberships and its sessions.
func (s *Bolt) DeleteUser(ctx context.Context, id, etag string) error {
	return s.write(ctx, IdentityChange{Action: "iam.users.delete", Target: id, Detail: ""}, func(tx *bolt.Tx) error {
		if _, err := deleteTx(tx, userKind, id, etag); err != nil {
			return err
		}
		groups, err := userGroupsTx(tx, id)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if _, err := changeMembershipTx(tx, g, "", id, false); err != nil {
				return err
			}
		}
		return revokeSubjectTx(tx, id, "principal deleted", time.Now())
	})
}

// UserGroups lists the ids of the user's groups.
func (s *Bolt) UserGroups(ctx context.Context, userID string) (ids []string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { ids, err = userGroupsTx(tx, userID); return err })
	return ids, err
}

func userGroupsTx(tx *bolt.Tx, userID string) ([]string, error) {
	prefix := compositeKey(userID, "")
	var ids []string
	c := tx.Bucket(bktMemberships).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, childID(k, prefix))
	}
	return ids, nil
}

// --- groups ---

// CreateGroup stores a new, empty group.
func (s *Bolt) CreateGroup(ctx context.Context, g *Group) error {
	g.MemberCount = 0
	return s.write(ctx, IdentityChange{Action: "iam.groups.create", Target: g.ID}, func(tx *bolt.Tx) error { return createTx(tx, groupKind, g) })
}

// GetGroup returns the group with id.
func (s *Bolt) GetGroup(ctx context.Context, id string) (g *Group, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { g, err = getTx(tx, groupKind, id); return err })
	return g, err
}

// GetGroupByName returns the group called name.
func (s *Bolt) GetGroupByName(ctx context.Context, name string) (g *Group, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bktGroupsByName).Get([]byte(name))
		if id == nil {
			return fmt.Errorf("%w: group name %q", ErrNotFound, name)
		}
		g, err = getTx(tx, groupKind, string(id))
		return err
	})
	return g, err
}

// ListGroups lists groups by name.
func (s *Bolt) ListGroups(ctx context.Context, q ListQuery) (out []*Group, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { out, next, err = listByName(tx, groupKind, q); return err })
	return out, next, err
}

// UpdateGroup modifies a group's attributes.
func (s *Bolt) UpdateGroup(ctx context.Context, id, etag string, mutate func(*Group) error) (g *Group, err error) {
	err = s.write(ctx, IdentityChange{Action: "iam.groups.update", Target: id, Detail: ""}, func(tx *bolt.Tx) error {
		_, g, err = updateTx(tx, groupKind, id, etag, func(g *Group) error {
			count := g.MemberCount
			if err := mutate(g); err != nil {
				return err
			}
			g.MemberCount = count // maintained by membership changes only
			return nil
		})
		return err
	})
	return g, err
}

// DeleteGroup deletes a group and its memberships.
func (s *Bolt) DeleteGroup(ctx context.Context, id, etag string) error {
	return s.write(ctx, IdentityChange{Action: "iam.groups.delete", Target: id, Detail: ""}, func(tx *bolt.Tx) error {
		if _, err := deleteTx(tx, groupKind, id, etag); err != nil {
			return err
		}
		prefix := compositeKey(id, "")
		var users []string
		c := tx.Bucket(bktMembers).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			users = append(users, childID(k, prefix))
		}
		for _, u := range users {
			if err := tx.Bucket(bktMembers).Delete(compositeKey(id, u)); err != nil {
				return err
			}
			if err := tx.Bucket(bktMemberships).Delete(compositeKey(u, id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// changeMembershipTx adds or removes userID in groupID, bumping the group's
// version. Adding an existing member or removing a non-member is an error,
// so the caller learns its view was stale.
func changeMembershipTx(tx *bolt.Tx, groupID, etag, userID string, add bool) (*Group, error) {
	mk, uk := compositeKey(groupID, userID), compositeKey(userID, groupID)
	present := tx.Bucket(bktMembers).Get(mk) != nil
	_, g, err := updateTx(tx, groupKind, groupID, etag, func(g *Group) error {
		switch {
		case add && present:
			return fmt.Errorf("%w: user %q is already a member of group %q", ErrAlreadyExists, userID, groupID)
		case !add && !present:
			return fmt.Errorf("%w: user %q is not a member of group %q", ErrNotFound, userID, groupID)
		case add:
			g.MemberCount++
		default:
			g.MemberCount--
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if add {
		if err := tx.Bucket(bktMembers).Put(mk, nil); err != nil {
			return nil, err
		}
		return g, tx.Bucket(bktMemberships).Put(uk, nil)
	}
	if err := tx.Bucket(bktMembers).Delete(mk); err != nil {
		return nil, err
	}
	return g, tx.Bucket(bktMemberships).Delete(uk)
}

// AddGroupMember adds an existing user to a group.
func (s *Bolt) AddGroupMember(ctx context.Context, groupID, etag, userID string) (g *Group, err error) {
	err = s.write(ctx, IdentityChange{Action: "iam.groups.addMember", Target: groupID, Detail: userID}, func(tx *bolt.Tx) error {
		if _, err := getTx(tx, userKind, userID); err != nil {
			return err
		}
		g, err = changeMembershipTx(tx, groupID, etag, userID, true)
		return err
	})
	return g, err
}

// RemoveGroupMember removes a user from a group.
func (s *Bolt) RemoveGroupMember(ctx context.Context, groupID, etag, userID string) (g *Group, err error) {
	err = s.write(ctx, IdentityChange{Action: "iam.groups.removeMember", Target: groupID, Detail: userID}, func(tx *bolt.Tx) error {
		g, err = changeMembershipTx(tx, groupID, etag, userID, false)
		return err
	})
	return g, err
}

// ListGroupMembers lists a group's users by user id.
func (s *Bolt) ListGroupMembers(ctx context.Context, groupID string, q ListQuery) (out []*User, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getTx(tx, groupKind, groupID); err != nil {
			return err
		}
		prefix := compositeKey(groupID, "")
		out, next, err = listIndex(tx, bktMembers, prefix, q, func(k, _ []byte) (*User, error) {
			return getTx(tx, userKind, childID(k, prefix))
		})
		return err
	})
	return out, next, err
}

// IsGroupMember reports whether userID belongs to groupID.
func (s *Bolt) IsGroupMember(ctx context.Context, groupID, userID string) (ok bool, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		ok = tx.Bucket(bktMembers).Get(compositeKey(groupID, userID)) != nil
		return nil
	})
	return ok, err
}

// --- service accounts ---

// CreateServiceAccount stores a new service account.
func (s *Bolt) CreateServiceAccount(ctx context.Context, sa *ServiceAccount) error {
	return s.write(ctx, IdentityChange{Action: "iam.serviceAccounts.create", Target: sa.ID}, func(tx *bolt.Tx) error { return createTx(tx, saKind, sa) })
}

// GetServiceAccount returns the service account with id.
func (s *Bolt) GetServiceAccount(ctx context.Context, id string) (sa *ServiceAccount, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { sa, err = getTx(tx, saKind, id); return err })
	return sa, err
}

// ListServiceAccounts lists service accounts by name.
func (s *Bolt) ListServiceAccounts(ctx context.Context, q ListQuery) (out []*ServiceAccount, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { out, next, err = listByName(tx, saKind, q); return err })
	return out, next, err
}

// UpdateServiceAccount modifies a service account; disabling it revokes its
// sessions.
func (s *Bolt) UpdateServiceAccount(ctx context.Context, id, etag string, mutate func(*ServiceAccount) error) (sa *ServiceAccount, err error) {
	err = s.write(ctx, IdentityChange{Action: "iam.serviceAccounts.update", Target: id, Detail: ""}, func(tx *bolt.Tx) error {
		old, next, err := updateTx(tx, saKind, id, etag, mutate)
		if err != nil {
			return err
		}
		if next.Disabled && !old.Disabled {
			if err := revokeSubjectTx(tx, id, "principal disabled", time.Now()); err != nil {
				return err
			}
		}
		sa = next
		return nil
	})
	return sa, err
}

// DeleteServiceAccount deletes a service account, its keys and sessions.
func (s *Bolt) DeleteServiceAccount(ctx context.Context, id, etag string) error {
	return s.write(ctx, IdentityChange{Action: "iam.serviceAccounts.delete", Target: id, Detail: ""}, func(tx *bolt.Tx) error {
		if _, err := deleteTx(tx, saKind, id, etag); err != nil {
			return err
		}
		prefix := compositeKey(id, "")
		var keys []string
		c := tx.Bucket(bktKeysBySA).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, childID(k, prefix))
		}
		for _, kid := range keys {
			if err := tx.Bucket(bktKeys).Delete([]byte(kid)); err != nil {
				return err
			}
			if err := tx.Bucket(bktKeysBySA).Delete(compositeKey(id, kid)); err != nil {
				return err
			}
		}
		return revokeSubjectTx(tx, id, "principal deleted", time.Now())
	})
}

// --- service account keys ---

// CreateServiceAccountKey stores a key of an existing service account.
func (s *Bolt) CreateServiceAccountKey(ctx context.Context, k *ServiceAccountKey) error {
	return s.write(ctx, IdentityChange{Action: "iam.serviceAccountKeys.create", Target: k.ID, Detail: k.ServiceAccountID}, func(tx *bolt.Tx) error {
		if _, err := getTx(tx, saKind, k.ServiceAccountID); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if err := createTx(tx, keyKind, k); err != nil {
			return err
		}
		return tx.Bucket(bktKeysBySA).Put(compositeKey(k.ServiceAccountID, k.ID), nil)
	})
}

// GetServiceAccountKey returns the key with id.
func (s *Bolt) GetServiceAccountKey(ctx context.Context, id string) (k *ServiceAccountKey, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { k, err = getTx(tx, keyKind, id); return err })
	return k, err
}

// ListServiceAccountKeys lists a service account's keys by key id.
func (s *Bolt) ListServiceAccountKeys(ctx context.Context, saID string, q ListQuery) (out []*ServiceAccountKey, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getTx(tx, saKind, saID); err != nil {
			return err
		}
		prefix := compositeKey(saID, "")
		out, next, err = listIndex(tx, bktKeysBySA, prefix, q, func(k, _ []byte) (*ServiceAccountKey, error) {
			return getTx(tx, keyKind, childID(k, prefix))
		})
		return err
	})
	return out, next, err
}

// UpdateServiceAccountKey modifies a key's attributes.
func (s *Bolt) UpdateServiceAccountKey(ctx context.Context, id, etag string, mutate func(*ServiceAccountKey) error) (k *ServiceAccountKey, err error) {
	err = s.write(ctx, IdentityChange{Action: "iam.serviceAccountKeys.update", Target: id, Detail: ""}, func(tx *bolt.Tx) error {
		_, k, err = updateTx(tx, keyKind, id, etag, func(k *ServiceAccountKey) error {
			sa, hash := k.ServiceAccountID, k.SecretHash
			if err := mutate(k); err != nil {
				return err
			}
			if k.ServiceAccountID != sa || !bytes.Equal(k.SecretHash, hash) {
				return fmt.Errorf("%w: a key's owner and secret cannot change", ErrInvalid)
			}
			return nil
		})
		return err
	})
	return k, err
}

// DeleteServiceAccountKey deletes a key.
func (s *Bolt) DeleteServiceAccountKey(ctx context.Context, id, etag string) error {
	return s.write(ctx, IdentityChange{Action: "iam.serviceAccountKeys.delete", Target: id, Detail: ""}, func(tx *bolt.Tx) error {
		old, err := deleteTx(tx, keyKind, id, etag)
		if err != nil {
			return err
		}
		return tx.Bucket(bktKeysBySA).Delete(compositeKey(old.ServiceAccountID, id))
	})
}

// --- refresh tokens ---

func getJSON[T any](b *bolt.Bucket, key []byte, what string) (*T, error) {
	raw := b.Get(key)
	if raw == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("store: decoding %s: %w", what, err)
	}
	return v, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encoding: %w", err)
	}
	return b.Put(key, raw)
}

func putRefreshTx(tx *bolt.Tx, t *RefreshToken) error {
	if len(t.Hash) == 0 {
		return fmt.Errorf("%w: refresh token without hash", ErrInvalid)
	}
	if tx.Bucket(bktRefresh).Get(t.Hash) != nil {
		return fmt.Errorf("%w: refresh token", ErrAlreadyExists)
	}
	if err := putJSON(tx.Bucket(bktRefresh), t.Hash, t); err != nil {
		return err
	}
	return tx.Bucket(bktFamilyTokens).Put(compositeKey(t.FamilyID, string(t.Hash)), nil)
}

// CreateRefreshFamily stores a new session and its first token.
func (s *Bolt) CreateRefreshFamily(ctx context.Context, f *RefreshFamily, first *RefreshToken) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bktFamilies).Get([]byte(f.ID)) != nil {
			return fmt.Errorf("%w: refresh family %q", ErrAlreadyExists, f.ID)
		}
		if err := putJSON(tx.Bucket(bktFamilies), []byte(f.ID), f); err != nil {
			return err
		}
		if err := tx.Bucket(bktFamiliesBySubj).Put(compositeKey(f.Subject, f.ID), nil); err != nil {
			return err
		}
		first.FamilyID = f.ID
		return putRefreshTx(tx, first)
	})
}

// principalActiveTx reports whether a token's principal still exists and is
// enabled.
func principalActiveTx(tx *bolt.Tx, kind, id string) bool {
	switch kind {
	case KindUser:
		u, err := getTx(tx, userKind, id)
		return err == nil && !u.Disabled
	case KindServiceAccount:
		sa, err := getTx(tx, saKind, id)
		return err == nil && !sa.Disabled
	}
	return false
}

// RotateRefreshToken spends a refresh token and stores its successor; see
// Store. The reuse case must commit the family's revocation, so it is
// reported through a variable rather than by failing the transaction (which
// would roll the revocation back).
func (s *Bolt) RotateRefreshToken(ctx context.Context, oldHash []byte, next *RefreshToken, now time.Time) (*RefreshToken, error) {
	var spent *RefreshToken
	var reused error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		old, err := getJSON[RefreshToken](tx.Bucket(bktRefresh), oldHash, "refresh token")
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRefreshInvalid, err)
		}
		fam, err := getJSON[RefreshFamily](tx.Bucket(bktFamilies), []byte(old.FamilyID), "refresh family")
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRefreshInvalid, err)
		}
		if !fam.RevokedAt.IsZero() {
			return fmt.Errorf("%w: family revoked (%s)", ErrRefreshInvalid, fam.RevokeReason)
		}
		if !old.SpentAt.IsZero() {
			fam.RevokedAt, fam.RevokeReason = now.UTC(), "reuse"
			reused = fmt.Errorf("%w: family %s revoked", ErrRefreshReused, fam.ID)
			return putJSON(tx.Bucket(bktFamilies), []byte(fam.ID), fam)
		}
		if !now.Before(old.ExpiresAt) || !now.Before(fam.ExpiresAt) {
			return fmt.Errorf("%w: expired", ErrRefreshInvalid)
		}
		if !principalActiveTx(tx, old.PrincipalKind, old.Subject) {
			return fmt.Errorf("%w: principal disabled or deleted", ErrRefreshInvalid)
		}
		old.SpentAt = now.UTC()
		if err := putJSON(tx.Bucket(bktRefresh), oldHash, old); err != nil {
			return err
		}
		next.FamilyID, next.Subject, next.PrincipalKind = old.FamilyID, old.Subject, old.PrincipalKind
		next.ClientID, next.Scope, next.Audience = old.ClientID, old.Scope, old.Audience
		if next.ExpiresAt.After(fam.ExpiresAt) {
			next.ExpiresAt = fam.ExpiresAt
		}
		if err := putRefreshTx(tx, next); err != nil {
			return err
		}
		spent = old
		return nil
	})
	if err != nil {
		return nil, err
	}
	if reused != nil {
		return nil, reused
	}
	return spent, nil
}

// GetRefreshToken returns a token and its family.
func (s *Bolt) GetRefreshToken(ctx context.Context, hash []byte) (t *RefreshToken, f *RefreshFamily, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if t, err = getJSON[RefreshToken](tx.Bucket(bktRefresh), hash, "refresh token"); err != nil {
			return err
		}
		f, err = getJSON[RefreshFamily](tx.Bucket(bktFamilies), []byte(t.FamilyID), "refresh family")
		return err
	})
	return t, f, err
}

// RevokeRefreshFamily revokes one session.
func (s *Bolt) RevokeRefreshFamily(ctx context.Context, familyID, reason string, now time.Time) error {
	return s.update(ctx, func(tx *bolt.Tx) error { return revokeFamilyTx(tx, familyID, reason, now) })
}

func revokeFamilyTx(tx *bolt.Tx, familyID, reason string, now time.Time) error {
	fam, err := getJSON[RefreshFamily](tx.Bucket(bktFamilies), []byte(familyID), "refresh family")
	if err != nil {
		return err
	}
	if !fam.RevokedAt.IsZero() {
		return nil
	}
	fam.RevokedAt, fam.RevokeReason = now.UTC(), reason
	return putJSON(tx.Bucket(bktFamilies), []byte(familyID), fam)
}

func revokeSubjectTx(tx *bolt.Tx, subject, reason string, now time.Time) error {
	prefix := compositeKey(subject, "")
	var fams []string
	c := tx.Bucket(bktFamiliesBySubj).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		fams = append(fams, childID(k, prefix))
	}
	for _, f := range fams {
		if err := revokeFamilyTx(tx, f, reason, now); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// --- access token revocation ---

// RevokeAccessToken records jti as revoked until exp.
func (s *Bolt) RevokeAccessToken(ctx context.Context, jti string, exp time.Time) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(exp.Unix()))
	return s.update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bktRevokedJTI).Put([]byte(jti), v[:]) })
}

// AccessTokenRevoked reports whether jti was revoked.
func (s *Bolt) AccessTokenRevoked(ctx context.Context, jti string) (revoked bool, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		revoked = tx.Bucket(bktRevokedJTI).Get([]byte(jti)) != nil
		return nil
	})
	return revoked, err
}

// --- keyring ---

// LoadOrCreateKeyring returns the stored keyring or stores a new one.
func (s *Bolt) LoadOrCreateKeyring(ctx context.Context, create func() ([]byte, error)) (data []byte, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		if raw := tx.Bucket(bktMeta).Get(keyKeyring); raw != nil {
			data = bytes.Clone(raw)
			return nil
		}
		if data, err = create(); err != nil {
			return err
		}
		return tx.Bucket(bktMeta).Put(keyKeyring, data)
	})
	return data, err
}

// SaveKeyring replaces the stored keyring.
func (s *Bolt) SaveKeyring(ctx context.Context, data []byte) error {
	return s.write(ctx, IdentityChange{Action: "iam.signingKeys.update", Target: "keyring"}, func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keyKeyring, data) })
}

// --- bootstrap and maintenance ---

// Bootstrap creates the first administrator once. Each of its changes
// (user, group, membership) goes through the identity hook in the same
// transaction, so the first administrator is audited like any other.
func (s *Bolt) Bootstrap(ctx context.Context, admin *User, admins *Group, now time.Time) (done bool, err error) {
	s.identity.mu.RLock()
	hook := s.identity.hook
	s.identity.mu.RUnlock()
	var changes []IdentityChange
	err = s.update(ctx, func(tx *bolt.Tx) error {
		changes = changes[:0]
		if tx.Bucket(bktMeta).Get(keyBootstrapped) != nil {
			return nil
		}
		admin.CreateTime, admins.CreateTime = now.UTC(), now.UTC()
		if err := createTx(tx, userKind, admin); err != nil {
			return err
		}
		changes = append(changes, IdentityChange{Action: "iam.users.create", Target: admin.ID, Detail: "bootstrap"})
		// The group may already exist if an operator created it before the
		// first start (not possible today, but harmless to handle).
		if id := tx.Bucket(bktGroupsByName).Get([]byte(admins.Name)); id != nil {
			g, err := getTx(tx, groupKind, string(id))
			if err != nil {
				return err
			}
			*admins = *g
		} else if err := createTx(tx, groupKind, admins); err != nil {
			return err
		} else {
			changes = append(changes, IdentityChange{Action: "iam.groups.create", Target: admins.ID, Detail: "bootstrap"})
		}
		g, err := changeMembershipTx(tx, admins.ID, "", admin.ID, true)
		if err != nil {
			return err
		}
		*admins = *g
		changes = append(changes, IdentityChange{Action: "iam.groups.addMember", Target: admins.ID, Detail: admin.ID})
		if hook != nil {
			for _, c := range changes {
				if err := hook(ctx, tx, c); err != nil {
					return err
				}
			}
		}
		done = true
		return tx.Bucket(bktMeta).Put(keyBootstrapped, []byte(now.UTC().Format(time.RFC3339)))
	})
	return done, err
}

// Sweep removes expired sessions and revocation records.
func (s *Bolt) Sweep(ctx context.Context, now time.Time) (n int, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		var expired []*RefreshFamily
		err := tx.Bucket(bktFamilies).ForEach(func(_, v []byte) error {
			var f RefreshFamily
			if err := json.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("store: decoding refresh family: %w", err)
			}
			if !now.Before(f.ExpiresAt) {
				expired = append(expired, &f)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, f := range expired {
			prefix := compositeKey(f.ID, "")
			var hashes [][]byte
			c := tx.Bucket(bktFamilyTokens).Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				hashes = append(hashes, bytes.Clone(k))
			}
			for _, k := range hashes {
				if err := tx.Bucket(bktRefresh).Delete(k[len(prefix):]); err != nil {
					return err
				}
				if err := tx.Bucket(bktFamilyTokens).Delete(k); err != nil {
					return err
				}
				n++
			}
			if err := tx.Bucket(bktFamilies).Delete([]byte(f.ID)); err != nil {
				return err
			}
			if err := tx.Bucket(bktFamiliesBySubj).Delete(compositeKey(f.Subject, f.ID)); err != nil {
				return err
			}
			n++
		}
		var jtis [][]byte
		err = tx.Bucket(bktRevokedJTI).ForEach(func(k, v []byte) error {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < now.Unix() {
				jtis = append(jtis, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range jtis {
			if err := tx.Bucket(bktRevokedJTI).Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
