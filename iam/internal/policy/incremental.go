package policy

import (
	"maps"

	"github.com/photoncloud/core/iam/internal/store"
)

// Incremental updates. A policy write changes one binding or deny policy,
// attached to one resource; rebuilding the whole index for it costs time
// proportional to all policy (tens of milliseconds at 10,000 bindings).
// These methods return a new Index at revision rev that shares every
// untouched node with ix and rebuilds only the affected one. Role changes
// are not incremental (bindings point at compiled roles): callers rebuild.

func (ix *Index) withNode(rev uint64, resource string, edit func(old *node) *node) *Index {
	out := &Index{revision: rev, roles: ix.roles, nodes: maps.Clone(ix.nodes)}
	n := edit(ix.nodes[resource])
	if n == nil || (len(n.bindings) == 0 && len(n.denies) == 0) {
		delete(out.nodes, resource)
	} else {
		out.nodes[resource] = n
	}
	return out
}

func rebuildNode(bindings []*binding, denies []*deny) *node {
	n := &node{bindings: bindings, denies: denies, byMember: map[string][]*binding{}}
	for _, b := range bindings {
		for _, m := range b.b.Members {
			n.byMember[m] = append(n.byMember[m], b)
		}
	}
	return n
}

func bindingsWithout(n *node, id string) []*binding {
	if n == nil {
		return nil
	}
	out := make([]*binding, 0, len(n.bindings))
	for _, b := range n.bindings {
		if b.b.ID != id {
			out = append(out, b)
		}
	}
	return out
}

func deniesWithout(n *node, id string) []*deny {
	if n == nil {
		return nil
	}
	out := make([]*deny, 0, len(n.denies))
	for _, d := range n.denies {
		if d.d.ID != id {
			out = append(out, d)
		}
	}
	return out
}

// WithBinding returns ix with b added, or replacing the binding of the same
// id on the same resource.
func (c *Conditions) WithBinding(ix *Index, rev uint64, b *store.Binding) *Index {
	cb := c.compileBinding(ix, b)
	return ix.withNode(rev, b.Resource, func(old *node) *node {
		var denies []*deny
		if old != nil {
			denies = old.denies
		}
		return rebuildNode(append(bindingsWithout(old, b.ID), cb), denies)
	})
}

// WithoutBinding returns ix without binding id of resource.
func (ix *Index) WithoutBinding(rev uint64, resource, id string) *Index {
	return ix.withNode(rev, resource, func(old *node) *node {
		if old == nil {
			return nil
		}
		return rebuildNode(bindingsWithout(old, id), old.denies)
	})
}

// WithDeny returns ix with d added, or replacing the deny policy of the
// same id on the same resource.
func (c *Conditions) WithDeny(ix *Index, rev uint64, d *store.DenyPolicy) *Index {
	cd := c.compileDeny(d)
	return ix.withNode(rev, d.Resource, func(old *node) *node {
		var bindings []*binding
		if old != nil {
			bindings = old.bindings
		}
		return rebuildNode(bindings, append(deniesWithout(old, d.ID), cd))
	})
}

// WithoutDeny returns ix without deny policy id of resource.
func (ix *Index) WithoutDeny(rev uint64, resource, id string) *Index {
	return ix.withNode(rev, resource, func(old *node) *node {
		if old == nil {
			return nil
		}
		return rebuildNode(old.bindings, deniesWithout(old, id))
	})
}
