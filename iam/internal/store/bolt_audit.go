package store

import (
	"context"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// IdentityChange describes one administrative identity write, handed to the
// identity hook inside the write's own transaction so that its audit record
// commits with it or not at all. Who asked (principal, address, request id)
// travels in ctx; the store does not interpret it.
type IdentityChange struct {
	// Action is the permission-like verb, e.g. "iam.users.create".
	Action string
	// Target is the id of the object written (a group for memberships).
	Target string
	// Detail names a secondary object (the member user), when any.
	Detail string
}

// IdentityHook runs inside an identity write transaction after the change
// has been staged; an error aborts the whole write.
type IdentityHook func(ctx context.Context, tx *bolt.Tx, c IdentityChange) error

type identityState struct {
	mu   sync.RWMutex
	hook IdentityHook
}

// SetIdentityHook installs the hook every identity write calls inside its
// transaction (nil removes it).
func (s *Bolt) SetIdentityHook(h IdentityHook) {
	s.identity.mu.Lock()
	defer s.identity.mu.Unlock()
	s.identity.hook = h
}

// write runs fn in one write transaction and then the identity hook, in the
// same transaction.
func (s *Bolt) write(ctx context.Context, c IdentityChange, fn func(*bolt.Tx) error) error {
	s.identity.mu.RLock()
	hook := s.identity.hook
	s.identity.mu.RUnlock()
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if hook == nil {
			return nil
		}
		return hook(ctx, tx, c)
	})
}

// UpdateTx runs fn in a write transaction of the store's file, for packages
// that keep their own buckets beside the store's (the audit log).
func (s *Bolt) UpdateTx(ctx context.Context, fn func(*bolt.Tx) error) error {
	return s.update(ctx, fn)
}

// ViewTx runs fn in a read transaction of the store's file.
func (s *Bolt) ViewTx(ctx context.Context, fn func(*bolt.Tx) error) error {
	return s.view(ctx, fn)
}
