package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Policy buckets. Secondary indexes are "parent \x00 child" keys kept in
// the same transaction as the object.
var (
	bktRoles          = []byte("policy_roles")
	bktRolesByParent  = []byte("policy_roles_by_parent")
	bktBindings       = []byte("policy_bindings")
	bktBindingsByRes  = []byte("policy_bindings_by_resource")
	bktDenies         = []byte("policy_denies")
	bktDeniesByRes    = []byte("policy_denies_by_resource")
	keyPolicyRevision = []byte("policy_revision")

	policyBuckets = [][]byte{bktRoles, bktRolesByParent, bktBindings, bktBindingsByRes, bktDenies, bktDeniesByRes}
)

var (
	roleKind = kind[Role]{
		name: "role", bucket: bktRoles,
		id: func(r *Role) string { return r.Name }, nameOf: func(*Role) string { return "" },
		meta: func(r *Role) *Meta { return &r.Meta },
	}
	bindingKind = kind[Binding]{
		name: "binding", bucket: bktBindings,
		id: func(b *Binding) string { return b.ID }, nameOf: func(*Binding) string { return "" },
		meta: func(b *Binding) *Meta { return &b.Meta },
	}
	denyKind = kind[DenyPolicy]{
		name: "deny policy", bucket: bktDenies,
		id: func(d *DenyPolicy) string { return d.ID }, nameOf: func(*DenyPolicy) string { return "" },
		meta: func(d *DenyPolicy) *Meta { return &d.Meta },
	}
)

// policyState is the Bolt store's policy hook, set once at start.
type policyState struct {
	mu   sync.RWMutex
	hook PolicyHook
}

var _ PolicyStore = (*Bolt)(nil)

// SetPolicyHook installs the hook every policy write calls inside its
// transaction (nil removes it).
func (s *Bolt) SetPolicyHook(h PolicyHook) {
	s.policy.mu.Lock()
	defer s.policy.mu.Unlock()
	s.policy.hook = h
}

func (s *Bolt) policyHook() PolicyHook {
	s.policy.mu.RLock()
	defer s.policy.mu.RUnlock()
	return s.policy.hook
}

func ensurePolicyBuckets(tx *bolt.Tx) error {
	for _, b := range policyBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("creating bucket %s: %w", b, err)
		}
	}
	return nil
}

func policyRevisionTx(tx *bolt.Tx) uint64 {
	v := tx.Bucket(bktMeta).Get(keyPolicyRevision)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// PolicyRevision returns the revision of the last policy write.
func (s *Bolt) PolicyRevision(ctx context.Context) (rev uint64, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { rev = policyRevisionTx(tx); return nil })
	return rev, err
}

// PolicySnapshot reads every role, binding and deny policy in one
// transaction.
func (s *Bolt) PolicySnapshot(ctx context.Context) (*PolicySnapshot, error) {
	snap := &PolicySnapshot{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		snap.Revision = policyRevisionTx(tx)
		var err error
		if snap.Roles, err = allOf[Role](tx, bktRoles); err != nil {
			return err
		}
		if snap.Bindings, err = allOf[Binding](tx, bktBindings); err != nil {
			return err
		}
		snap.Denies, err = allOf[DenyPolicy](tx, bktDenies)
		return err
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

func allOf[T any](tx *bolt.Tx, bucket []byte) ([]*T, error) {
	var out []*T
	err := tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		obj := new(T)
		if err := json.Unmarshal(v, obj); err != nil {
			return fmt.Errorf("store: decoding %s %q: %w", bucket, k, err)
		}
		out = append(out, obj)
		return nil
	})
	return out, err
}

// WritePolicy runs one policy write; see PolicyStore.
func (s *Bolt) WritePolicy(ctx context.Context, change PolicyChange, fn func(w *PolicyWriter) error) (rev uint64, err error) {
	hook := s.policyHook()
	err = s.update(ctx, func(tx *bolt.Tx) error {
		before := policyRevisionTx(tx)
		w := &PolicyWriter{tx: tx, Revision: before, Change: &change}
		if err := fn(w); err != nil {
			return err
		}
		rev = before + 1
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], rev)
		if err := tx.Bucket(bktMeta).Put(keyPolicyRevision, v[:]); err != nil {
			return err
		}
		if hook != nil {
			change.Revision = rev
			if err := hook(tx, change); err != nil {
				return fmt.Errorf("store: policy hook: %w", err)
			}
		}
		return nil
	})
	return rev, err
}

// PolicyWriter changes policy objects inside one WritePolicy transaction.
// Its methods enforce referential rules: a binding names an existing role
// (or a built-in one, which the caller vouches for), and a role in use
// cannot be deleted.
type PolicyWriter struct {
	tx *bolt.Tx
	// Revision is the policy revision before this write.
	Revision uint64
	// Change describes the write to the hook; fn may complete it (for
	// example with the resource of an object it looked up).
	Change *PolicyChange
}

// Tx exposes the transaction, for hooks that add records of their own.
func (w *PolicyWriter) Tx() *bolt.Tx { return w.tx }

// Role returns a stored custom role.
func (w *PolicyWriter) Role(name string) (*Role, error) { return getTx(w.tx, roleKind, name) }

// Binding returns a binding.
func (w *PolicyWriter) Binding(id string) (*Binding, error) { return getTx(w.tx, bindingKind, id) }

// DenyPolicy returns a deny policy.
func (w *PolicyWriter) DenyPolicy(id string) (*DenyPolicy, error) { return getTx(w.tx, denyKind, id) }

// CreateRole stores a new custom role.
func (w *PolicyWriter) CreateRole(r *Role) error {
	if err := createTx(w.tx, roleKind, r); err != nil {
		return err
	}
	return w.tx.Bucket(bktRolesByParent).Put(compositeKey(r.Parent, r.Name), nil)
}

// UpdateRole replaces a role's mutable fields; the parent cannot change.
func (w *PolicyWriter) UpdateRole(name, etag string, mutate func(*Role) error) (*Role, error) {
	_, next, err := updateTx(w.tx, roleKind, name, etag, func(r *Role) error {
		parent := r.Parent
		if err := mutate(r); err != nil {
			return err
		}
		if r.Parent != parent {
			return fmt.Errorf("%w: a role's parent cannot change", ErrInvalid)
		}
		return nil
	})
	return next, err
}

// DeleteRole deletes a role no binding uses.
func (w *PolicyWriter) DeleteRole(name, etag string) error {
	used := false
	err := w.tx.Bucket(bktBindings).ForEach(func(_, v []byte) error {
		var b Binding
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("store: decoding binding: %w", err)
		}
		used = used || b.Role == name
		return nil
	})
	if err != nil {
		return err
	}
	if used {
		return fmt.Errorf("%w: role %q is still granted by bindings", ErrInvalid, name)
	}
	old, err := deleteTx(w.tx, roleKind, name, etag)
	if err != nil {
		return err
	}
	return w.tx.Bucket(bktRolesByParent).Delete(compositeKey(old.Parent, name))
}

// CreateBinding stores a new binding.
func (w *PolicyWriter) CreateBinding(b *Binding) error {
	if err := createTx(w.tx, bindingKind, b); err != nil {
		return err
	}
	return w.tx.Bucket(bktBindingsByRes).Put(compositeKey(b.Resource, b.ID), nil)
}

// UpdateBinding replaces a binding's role, members and condition; its
// resource cannot change.
func (w *PolicyWriter) UpdateBinding(id, etag string, mutate func(*Binding) error) (*Binding, error) {
	_, next, err := updateTx(w.tx, bindingKind, id, etag, func(b *Binding) error {
		res := b.Resource
		if err := mutate(b); err != nil {
			return err
		}
		if b.Resource != res {
			return fmt.Errorf("%w: a binding's resource cannot change", ErrInvalid)
		}
		return nil
	})
	return next, err
}

// DeleteBinding removes a binding.
func (w *PolicyWriter) DeleteBinding(id, etag string) error {
	old, err := deleteTx(w.tx, bindingKind, id, etag)
	if err != nil {
		return err
	}
	return w.tx.Bucket(bktBindingsByRes).Delete(compositeKey(old.Resource, id))
}

// CreateDenyPolicy stores a new deny policy.
func (w *PolicyWriter) CreateDenyPolicy(d *DenyPolicy) error {
	if err := createTx(w.tx, denyKind, d); err != nil {
		return err
	}
	return w.tx.Bucket(bktDeniesByRes).Put(compositeKey(d.Resource, d.ID), nil)
}

// UpdateDenyPolicy replaces a deny policy's rule; its resource cannot
// change.
func (w *PolicyWriter) UpdateDenyPolicy(id, etag string, mutate func(*DenyPolicy) error) (*DenyPolicy, error) {
	_, next, err := updateTx(w.tx, denyKind, id, etag, func(d *DenyPolicy) error {
		res := d.Resource
		if err := mutate(d); err != nil {
			return err
		}
		if d.Resource != res {
			return fmt.Errorf("%w: a deny policy's resource cannot change", ErrInvalid)
		}
		return nil
	})
	return next, err
}

// DeleteDenyPolicy removes a deny policy.
func (w *PolicyWriter) DeleteDenyPolicy(id, etag string) error {
	old, err := deleteTx(w.tx, denyKind, id, etag)
	if err != nil {
		return err
	}
	return w.tx.Bucket(bktDeniesByRes).Delete(compositeKey(old.Resource, id))
}

// GetRole returns a stored custom role.
func (s *Bolt) GetRole(ctx context.Context, name string) (r *Role, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { r, err = getTx(tx, roleKind, name); return err })
	return r, err
}

// GetBinding returns a binding.
func (s *Bolt) GetBinding(ctx context.Context, id string) (b *Binding, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { b, err = getTx(tx, bindingKind, id); return err })
	return b, err
}

// GetDenyPolicy returns a deny policy.
func (s *Bolt) GetDenyPolicy(ctx context.Context, id string) (d *DenyPolicy, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error { d, err = getTx(tx, denyKind, id); return err })
	return d, err
}

// ListRoles lists the custom roles defined at parent.
func (s *Bolt) ListRoles(ctx context.Context, parent string) (out []*Role, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		out, err = children(tx, bktRolesByParent, parent, roleKind)
		return err
	})
	return out, err
}

// ListBindings lists the bindings attached to resource.
func (s *Bolt) ListBindings(ctx context.Context, resource string) (out []*Binding, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		out, err = children(tx, bktBindingsByRes, resource, bindingKind)
		return err
	})
	return out, err
}

// ListDenyPolicies lists the deny policies attached to resource.
func (s *Bolt) ListDenyPolicies(ctx context.Context, resource string) (out []*DenyPolicy, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		out, err = children(tx, bktDeniesByRes, resource, denyKind)
		return err
	})
	return out, err
}

func children[T any](tx *bolt.Tx, index []byte, parent string, k kind[T]) ([]*T, error) {
	prefix := compositeKey(parent, "")
	var out []*T
	c := tx.Bucket(index).Cursor()
	for key, _ := c.Seek(prefix); key != nil && bytes.HasPrefix(key, prefix); key, _ = c.Next() {
		v, err := getTx(tx, k, childID(key, prefix))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
