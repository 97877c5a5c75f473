package policy

import (
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/photoncloud/core/iam/internal/store"
)

// Index is a compiled, immutable view of all policy at one revision:
// roles as permission sets and, per resource, the deny policies and the
// bindings attached to it, the latter also indexed by member. Deciding a
// request touches only the nodes of the resource's ancestors.
type Index struct {
	revision uint64
	roles    map[string]*role
	nodes    map[string]*node
}

type node struct {
	denies   []*deny
	bindings []*binding
	byMember map[string][]*binding
}

type role struct {
	name, parent string
	exact        map[string]struct{}
	prefixes     []string // from "svc.*" / "svc.res.*", without the "*"
	all          bool
	patterns     []string
}

func (r *role) has(perm string) bool {
	if r.all {
		return true
	}
	if _, ok := r.exact[perm]; ok {
		return true
	}
	for _, p := range r.prefixes {
		if strings.HasPrefix(perm, p) {
			return true
		}
	}
	return false
}

type binding struct {
	b    *store.Binding
	role *role // nil: unknown role, grants nothing
	// grantable is false when a custom role is bound outside its parent.
	grantable bool
	prg       cel.Program
	condErr   error // the condition did not compile: never allows
}

type deny struct {
	d          *store.DenyPolicy
	all        bool
	allPerms   bool // set for a deny policy that failed validation
	principals map[string]struct{}
	exceptions map[string]struct{}
	prg        cel.Program
	condErr    error // did not compile: the deny applies (fail closed)
}

func compileRole(r *store.Role) *role {
	out := &role{name: r.Name, parent: r.Parent, exact: map[string]struct{}{}, patterns: r.Permissions}
	for _, p := range r.Permissions {
		switch {
		case p == "*":
			out.all = true
		case strings.HasSuffix(p, ".*"):
			out.prefixes = append(out.prefixes, strings.TrimSuffix(p, "*"))
		default:
			out.exact[p] = struct{}{}
		}
	}
	return out
}

func set(xs []string) map[string]struct{} {
	m := make(map[string]struct{}, len(xs))
	for _, x := range xs {
		m[x] = struct{}{}
	}
	return m
}

// Compile builds the Index for a snapshot. Objects that fail validation
// (written by an older version, or corrupted) are kept but made harmless in
// the fail-closed direction: such a binding grants nothing and such a deny
// policy applies.
func (c *Conditions) Compile(snap *store.PolicySnapshot) *Index {
	ix := &Index{revision: snap.Revision, roles: map[string]*role{}, nodes: map[string]*node{}}
	for _, r := range BuiltinRoles() {
		ix.roles[r.Name] = compileRole(r)
	}
	for _, r := range snap.Roles {
		if ValidateRole(r) != nil {
			continue
		}
		ix.roles[r.Name] = compileRole(r)
	}
	at := func(res string) *node {
		n := ix.nodes[res]
		if n == nil {
			n = &node{byMember: map[string][]*binding{}}
			ix.nodes[res] = n
		}
		return n
	}
	for _, b := range snap.Bindings {
		cb := c.compileBinding(ix, b)
		n := at(b.Resource)
		n.bindings = append(n.bindings, cb)
		for _, m := range b.Members {
			n.byMember[m] = append(n.byMember[m], cb)
		}
	}
	for _, d := range snap.Denies {
		n := at(d.Resource)
		n.denies = append(n.denies, c.compileDeny(d))
	}
	return ix
}

func (c *Conditions) compileBinding(ix *Index, b *store.Binding) *binding {
	cb := &binding{b: b, role: ix.roles[b.Role]}
	cb.grantable = cb.role != nil && (cb.role.parent == "" || IsAncestorOrSelf(cb.role.parent, b.Resource))
	if err := c.ValidateBinding(b); err != nil {
		cb.grantable, cb.condErr = false, err
	} else if b.Condition != nil {
		cb.prg, cb.condErr = c.Program(b.Condition.Expression)
	}
	return cb
}

func (c *Conditions) compileDeny(d *store.DenyPolicy) *deny {
	cd := &deny{d: d, principals: set(d.DeniedPrincipals), exceptions: set(d.ExceptionPrincipals)}
	_, cd.all = cd.principals[AllPrincipals]
	if err := c.ValidateDenyPolicy(d); err != nil {
		// A broken deny policy denies everything to everyone it might
		// name: we cannot tell what it meant.
		cd.all, cd.allPerms, cd.condErr = true, true, err
	} else if d.Condition != nil {
		cd.prg, cd.condErr = c.Program(d.Condition.Expression)
	}
	return cd
}

// Revision is the policy revision the index was built from.
func (ix *Index) Revision() uint64 { return ix.revision }

// Role returns the compiled permissions of a role, and whether it exists.
func (ix *Index) Role(name string) ([]string, string, bool) {
	r, ok := ix.roles[name]
	if !ok {
		return nil, "", false
	}
	return r.patterns, r.parent, true
}
