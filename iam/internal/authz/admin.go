package authz

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"

	"github.com/photoncloud/core/iam/internal/policy"
	"github.com/photoncloud/core/iam/internal/store"
)

// Actor is the authenticated caller of an administrative operation.
type Actor struct {
	// Principal is the caller's member string.
	Principal string
	SourceIP  string
	RequestID string
}

// errStale makes a write retry: the index moved between check and write.
var errStale = errors.New("authz: policy changed during the write")

const maxWriteAttempts = 8

// actorView is the caller as seen by one write: its groups and the index
// the checks run against.
type actorView struct {
	Actor
	groups []string
	ix     *policy.Index
	a      *Authorizer
}

// allowed decides whether the actor holds perm on resource (conditions
// evaluated against the request).
func (v *actorView) allowed(perm, resource string) bool {
	return v.ix.Decide(&policy.Request{
		Principal: v.Principal, Groups: v.groups, Permission: perm, Resource: resource,
		Time: v.a.cfg.Now().UTC(), SourceIP: v.SourceIP,
	}).Allowed
}

func (v *actorView) require(perm, resource string) error {
	if !v.allowed(perm, resource) {
		return fmt.Errorf("%w: %s needs %s on %s", ErrPermissionDenied, v.Principal, perm, resource)
	}
	return nil
}

// mayGrant checks that granting role on resource gives nobody more than
// the actor holds there: every permission of the role is held
// unconditionally, or the actor has iam.bindings.setAny.
func (v *actorView) mayGrant(roleName, resource string) error {
	perms, parent, ok := v.ix.Role(roleName)
	if !ok {
		return fmt.Errorf("%w: role %s does not exist", store.ErrInvalid, roleName)
	}
	if parent != "" && !policy.IsAncestorOrSelf(parent, resource) {
		return fmt.Errorf("%w: role %s is defined at %s and cannot be granted on %s", store.ErrInvalid, roleName, parent, resource)
	}
	if v.ix.Holds(v.Principal, v.groups, policy.PermBindingsSetAny, resource) {
		return nil
	}
	for _, p := range perms {
		if !v.ix.Holds(v.Principal, v.groups, p, resource) {
			return fmt.Errorf("%w: granting %s needs holding %s on %s", ErrPermissionDenied, roleName, p, resource)
		}
	}
	return nil
}

// write runs one checked policy write. check runs inside the store
// transaction against an index at exactly the store's revision, so a
// concurrent policy change cannot slip between the check and the write.
//
// After the commit the index moves to the new revision: through apply
// (an incremental update of just the changed object) when nothing else was
// written in between, else by a full reload.
func (a *Authorizer) write(ctx context.Context, act Actor, change store.PolicyChange,
	fn func(v *actorView, w *store.PolicyWriter) error, apply *applyFunc) (uint64, error) {
	if err := policy.ValidatePrincipal(act.Principal); err != nil {
		return 0, err
	}
	groups, err := a.groupsOf(ctx, act.Principal)
	if err != nil {
		return 0, err
	}
	change.Actor, change.SourceIP, change.RequestID = act.Principal, act.SourceIP, act.RequestID
	// bbolt serialises writers anyway; serialising here too means the
	// index loaded below is the store's latest (every write advances it
	// before unlocking), so writers do not starve each other with retries.
	// The retry remains for writes made by another process.
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	for range maxWriteAttempts {
		ix := a.index.Load()
		rev, err := a.store.WritePolicy(ctx, change, func(w *store.PolicyWriter) error {
			if w.Revision != ix.Revision() {
				return errStale
			}
			return fn(&actorView{Actor: act, groups: groups, ix: ix, a: a}, w)
		})
		if errors.Is(err, errStale) {
			if _, err := a.reload(ctx, 0); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		if err := a.advance(ctx, rev, *apply); err != nil {
			return 0, err
		}
		return rev, nil
	}
	return 0, fmt.Errorf("authz: policy write kept racing with other writes")
}

// applyFunc derives the index at rev from the one just before it.
type applyFunc func(ix *policy.Index, rev uint64) *policy.Index

// advance brings the index to rev after a committed write.
func (a *Authorizer) advance(ctx context.Context, rev uint64, apply applyFunc) error {
	if apply != nil {
		a.reloadMu.Lock()
		ix := a.index.Load()
		if ix.Revision() == rev-1 {
			a.index.Store(apply(ix, rev))
			a.reloadMu.Unlock()
			return nil
		}
		a.reloadMu.Unlock()
	}
	_, err := a.reload(ctx, rev)
	return err
}

// view authorizes a read by the actor against the current index.
func (a *Authorizer) view(ctx context.Context, act Actor, perm, resource string) error {
	if err := policy.ValidatePrincipal(act.Principal); err != nil {
		return err
	}
	groups, err := a.groupsOf(ctx, act.Principal)
	if err != nil {
		return err
	}
	v := &actorView{Actor: act, groups: groups, ix: a.index.Load(), a: a}
	return v.require(perm, resource)
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newID(prefix string) (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("authz: generating id: %w", err)
	}
	return prefix + idEncoding.EncodeToString(b), nil
}

func roleScope(r *store.Role) string {
	if r.Parent == "" {
		return policy.Root
	}
	return r.Parent
}

// --- roles ---

// CreateRole defines a custom role. The actor needs iam.roles.set on the
// parent and must hold every permission it lists there (so a role cannot
// be used to smuggle permissions into a later grant).
func (a *Authorizer) CreateRole(ctx context.Context, act Actor, r *store.Role) (*store.Role, uint64, error) {
	if err := policy.ValidateRole(r); err != nil {
		return nil, 0, err
	}
	scope := roleScope(r)
	rev, err := a.write(ctx, act, store.PolicyChange{Action: "iam.roles.create", Resource: scope, Target: r.Name},
		func(v *actorView, w *store.PolicyWriter) error {
			if err := v.require(policy.PermRolesSet, scope); err != nil {
				return err
			}
			if err := v.holdsAll(r.Permissions, scope); err != nil {
				return err
			}
			return w.CreateRole(r)
		}, new(applyFunc))
	return r, rev, err
}

func (v *actorView) holdsAll(perms []string, resource string) error {
	if v.ix.Holds(v.Principal, v.groups, policy.PermBindingsSetAny, resource) {
		return nil
	}
	for _, p := range perms {
		if !v.ix.Holds(v.Principal, v.groups, p, resource) {
			return fmt.Errorf("%w: a role with %s needs holding it on %s", ErrPermissionDenied, p, resource)
		}
	}
	return nil
}

// UpdateRole replaces a custom role's title, description and permissions,
// with CreateRole's checks on the new permissions.
func (a *Authorizer) UpdateRole(ctx context.Context, act Actor, r *store.Role, etag string) (*store.Role, uint64, error) {
	if err := policy.ValidateRole(r); err != nil {
		return nil, 0, err
	}
	var out *store.Role
	rev, err := a.write(ctx, act, store.PolicyChange{Action: "iam.roles.update", Target: r.Name},
		func(v *actorView, w *store.PolicyWriter) error {
			old, err := w.Role(r.Name)
			if err != nil {
				return err
			}
			w.Change.Resource = roleScope(old)
			scope := roleScope(old)
			if err := v.require(policy.PermRolesSet, scope); err != nil {
				return err
			}
			if err := v.holdsAll(r.Permissions, scope); err != nil {
				return err
			}
			out, err = w.UpdateRole(r.Name, etag, func(x *store.Role) error {
				x.Title, x.Description, x.Permissions = r.Title, r.Description, slices.Clone(r.Permissions)
				return nil
			})
			return err
		}, new(applyFunc))
	return out, rev, err
}

// DeleteRole deletes an unused custom role.
func (a *Authorizer) DeleteRole(ctx context.Context, act Actor, name, etag string) (uint64, error) {
	if err := policy.ValidateRoleName(name); err != nil {
		return 0, err
	}
	return a.write(ctx, act, store.PolicyChange{Action: "iam.roles.delete", Target: name},
		func(v *actorView, w *store.PolicyWriter) error {
			old, err := w.Role(name)
			if err != nil {
				return err
			}
			w.Change.Resource = roleScope(old)
			if err := v.require(policy.PermRolesSet, roleScope(old)); err != nil {
				return err
			}
			return w.DeleteRole(name, etag)
		}, new(applyFunc))
}

// GetRole returns a built-in or custom role; custom ones need iam.roles.get
// on their parent.
func (a *Authorizer) GetRole(ctx context.Context, act Actor, name string) (*store.Role, bool, error) {
	for _, r := range policy.BuiltinRoles() {
		if r.Name == name {
			return r, true, nil
		}
	}
	if err := policy.ValidateRoleName(name); err != nil {
		return nil, false, err
	}
	r, err := a.store.GetRole(ctx, name)
	if err != nil {
		return nil, false, err
	}
	if err := a.view(ctx, act, policy.PermRolesGet, roleScope(r)); err != nil {
		return nil, false, err
	}
	return r, false, nil
}

// ListRoles lists the custom roles defined at parent ("" for
// platform-wide), after the built-in ones.
func (a *Authorizer) ListRoles(ctx context.Context, act Actor, parent string) ([]*store.Role, error) {
	scope := policy.Root
	if parent != "" {
		if err := policy.ValidateResource(parent); err != nil {
			return nil, err
		}
		scope = parent
	}
	if err := a.view(ctx, act, policy.PermRolesGet, scope); err != nil {
		return nil, err
	}
	rs, err := a.store.ListRoles(ctx, parent)
	if err != nil {
		return nil, err
	}
	return append(policy.BuiltinRoles(), rs...), nil
}

// --- bindings ---

// CreateBinding grants a role. The actor needs iam.bindings.set on the
// resource and must hold every permission of the role there (or
// iam.bindings.setAny).
func (a *Authorizer) CreateBinding(ctx context.Context, act Actor, b *store.Binding) (*store.Binding, uint64, error) {
	id, err := newID("bnd_")
	if err != nil {
		return nil, 0, err
	}
	b.ID = id
	if err := a.conds.ValidateBinding(b); err != nil {
		return nil, 0, err
	}
	rev, err := a.write(ctx, act, store.PolicyChange{Action: "iam.bindings.create", Resource: b.Resource, Target: b.ID},
		func(v *actorView, w *store.PolicyWriter) error {
			if err := v.require(policy.PermBindingsSet, b.Resource); err != nil {
				return err
			}
			if err := v.mayGrant(b.Role, b.Resource); err != nil {
				return err
			}
			return w.CreateBinding(b)
		}, a.bindingApply(&b))
	return b, rev, err
}

// UpdateBinding replaces a binding's role, members and condition, with
// CreateBinding's checks (adding a member is granting).
func (a *Authorizer) UpdateBinding(ctx context.Context, act Actor, b *store.Binding, etag string) (*store.Binding, uint64, error) {
	var out *store.Binding
	rev, err := a.write(ctx, act, store.PolicyChange{Action: "iam.bindings.update", Target: b.ID},
		func(v *actorView, w *store.PolicyWriter) error {
			old, err := w.Binding(b.ID)
			if err != nil {
				return err
			}
			w.Change.Resource = old.Resource
			b.Resource = old.Resource
			if err := a.conds.ValidateBinding(b); err != nil {
				return err
			}
			if err := v.require(policy.PermBindingsSet, old.Resource); err != nil {
				return err
			}
			if err := v.mayGrant(b.Role, old.Resource); err != nil {
				return err
			}
			out, err = w.UpdateBinding(b.ID, etag, func(x *store.Binding) error {
				x.Role, x.Members, x.Condition = b.Role, slices.Clone(b.Members), b.Condition
				return nil
			})
			return err
		}, a.bindingApply(&out))
	return out, rev, err
}

// DeleteBinding removes a binding; it needs iam.bindings.set on its
// resource.
func (a *Authorizer) DeleteBinding(ctx context.Context, act Actor, id, etag string) (uint64, error) {
	var resource string
	apply := applyFunc(func(ix *policy.Index, rev uint64) *policy.Index { return ix.WithoutBinding(rev, resource, id) })
	return a.write(ctx, act, store.PolicyChange{Action: "iam.bindings.delete", Target: id},
		func(v *actorView, w *store.PolicyWriter) error {
			old, err := w.Binding(id)
			if err != nil {
				return err
			}
			w.Change.Resource = old.Resource
			resource = old.Resource
			if err := v.require(policy.PermBindingsSet, old.Resource); err != nil {
				return err
			}
			return w.DeleteBinding(id, etag)
		}, &apply)
}

// bindingApply adds or replaces *b (read after the write) in the index.
func (a *Authorizer) bindingApply(b **store.Binding) *applyFunc {
	f := applyFunc(func(ix *policy.Index, rev uint64) *policy.Index { return a.conds.WithBinding(ix, rev, *b) })
	return &f
}

// denyApply adds or replaces *d (read after the write) in the index.
func (a *Authorizer) denyApply(d **store.DenyPolicy) *applyFunc {
	f := applyFunc(func(ix *policy.Index, rev uint64) *policy.Index { return a.conds.WithDeny(ix, rev, *d) })
	return &f
}

// GetBinding returns a binding to a caller with iam.bindings.get on its
// resource.
func (a *Authorizer) GetBinding(ctx context.Context, act Actor, id string) (*store.Binding, error) {
	b, err := a.store.GetBinding(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.view(ctx, act, policy.PermBindingsGet, b.Resource); err != nil {
		return nil, err
	}
	return b, nil
}

// ListBindings lists the bindings attached to resource.
func (a *Authorizer) ListBindings(ctx context.Context, act Actor, resource string) ([]*store.Binding, error) {
	if err := policy.ValidateResource(resource); err != nil {
		return nil, err
	}
	if err := a.view(ctx, act, policy.PermBindingsGet, resource); err != nil {
		return nil, err
	}
	return a.store.ListBindings(ctx, resource)
}

// --- deny policies ---

// CreateDenyPolicy attaches a deny policy; it needs iam.denyPolicies.set.
func (a *Authorizer) CreateDenyPolicy(ctx context.Context, act Actor, d *store.DenyPolicy) (*store.DenyPolicy, uint64, error) {
	id, err := newID("deny_")
	if err != nil {
		return nil, 0, err
	}
	d.ID = id
	if err := a.conds.ValidateDenyPolicy(d); err != nil {
		return nil, 0, err
	}
	rev, err := a.write(ctx, act, store.PolicyChange{Action: "iam.denyPolicies.create", Resource: d.Resource, Target: d.ID},
		func(v *actorView, w *store.PolicyWriter) error {
			if err := v.require(policy.PermDenyPoliciesSet, d.Resource); err != nil {
				return err
			}
			return w.CreateDenyPolicy(d)
		}, a.denyApply(&d))
	return d, rev, err
}

// checkDenyEditable refuses changes by a principal the policy targets: a
// deny policy cannot be removed or weakened by the one it restrains.
func (v *actorView) checkDenyEditable(old *store.DenyPolicy) error {
	if err := v.require(policy.PermDenyPoliciesSet, old.Resource); err != nil {
		return err
	}
	if policy.DenyNames(old.DeniedPrincipals, old.ExceptionPrincipals, v.Principal, v.groups) {
		return fmt.Errorf("%w: deny policy %s names %s, who therefore cannot change it", ErrPermissionDenied, old.ID, v.Principal)
	}
	return nil
}

// UpdateDenyPolicy replaces a deny policy's rule.
func (a *Authorizer) UpdateDenyPolicy(ctx context.Context, act Actor, d *store.DenyPolicy, etag string) (*store.DenyPolicy, uint64, error) {
	var out *store.DenyPolicy
	rev, err := a.write(ctx, act, store.PolicyChange{Action: "iam.denyPolicies.update", Target: d.ID},
		func(v *actorView, w *store.PolicyWriter) error {
			old, err := w.DenyPolicy(d.ID)
			if err != nil {
				return err
			}
			w.Change.Resource = old.Resource
			d.Resource = old.Resource
			if err := a.conds.ValidateDenyPolicy(d); err != nil {
				return err
			}
			if err := v.checkDenyEditable(old); err != nil {
				return err
			}
			out, err = w.UpdateDenyPolicy(d.ID, etag, func(x *store.DenyPolicy) error {
				x.Description, x.Condition = d.Description, d.Condition
				x.DeniedPrincipals, x.ExceptionPrincipals = slices.Clone(d.DeniedPrincipals), slices.Clone(d.ExceptionPrincipals)
				x.DeniedPermissions = slices.Clone(d.DeniedPermissions)
				return nil
			})
			return err
		}, a.denyApply(&out))
	return out, rev, err
}

// DeleteDenyPolicy removes a deny policy.
func (a *Authorizer) DeleteDenyPolicy(ctx context.Context, act Actor, id, etag string) (uint64, error) {
	var resource string
	apply := applyFunc(func(ix *policy.Index, rev uint64) *policy.Index { return ix.WithoutDeny(rev, resource, id) })
	return a.write(ctx, act, store.PolicyChange{Action: "iam.denyPolicies.delete", Target: id},
		func(v *actorView, w *store.PolicyWriter) error {
			old, err := w.DenyPolicy(id)
			if err != nil {
				return err
			}
			w.Change.Resource = old.Resource
			resource = old.Resource
			if err := v.checkDenyEditable(old); err != nil {
				return err
			}
			return w.DeleteDenyPolicy(id, etag)
		}, &apply)
}

// GetDenyPolicy returns a deny policy to a caller with
// iam.denyPolicies.get on its resource.
func (a *Authorizer) GetDenyPolicy(ctx context.Context, act Actor, id string) (*store.DenyPolicy, error) {
	d, err := a.store.GetDenyPolicy(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.view(ctx, act, policy.PermDenyPoliciesGet, d.Resource); err != nil {
		return nil, err
	}
	return d, nil
}

// ListDenyPolicies lists the deny policies attached to resource.
func (a *Authorizer) ListDenyPolicies(ctx context.Context, act Actor, resource string) ([]*store.DenyPolicy, error) {
	if err := policy.ValidateResource(resource); err != nil {
		return nil, err
	}
	if err := a.view(ctx, act, policy.PermDenyPoliciesGet, resource); err != nil {
		return nil, err
	}
	return a.store.ListDenyPolicies(ctx, resource)
}

// Bootstrap grants roles/owner on root to the administrators group when no
// policy has ever been written, so the first administrator can manage
// everything. It reports whether it did.
func (a *Authorizer) Bootstrap(ctx context.Context, adminGroupID string) (bool, error) {
	rev, err := a.store.PolicyRevision(ctx)
	if err != nil || rev != 0 {
		return false, err
	}
	b := &store.Binding{ID: "bnd_bootstrap_admins", Resource: policy.Root, Role: policy.Owner,
		Members: []string{policy.MemberGroup + adminGroupID}}
	rev, err = a.store.WritePolicy(ctx, store.PolicyChange{Action: "iam.bindings.create", Resource: policy.Root, Target: b.ID},
		func(w *store.PolicyWriter) error {
			if w.Revision != 0 {
				return errStale
			}
			return w.CreateBinding(b)
		})
	if errors.Is(err, errStale) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("authz: bootstrap binding: %w", err)
	}
	_, err = a.reload(ctx, rev)
	return err == nil, err
}
