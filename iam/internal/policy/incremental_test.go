package policy

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/photoncloud/core/iam/internal/store"
)

// TestIncrementalMatchesCompile applies random binding and deny-policy
// changes one at a time to an index and checks, after each, that it
// decides like an index compiled from scratch from the same objects.
func TestIncrementalMatchesCompile(t *testing.T) {
	c := mustConds(t)
	r := rand.New(rand.NewPCG(42, 9))
	resources := []string{Root, "orgs/a", "orgs/a/projects/p", "orgs/a/projects/p/flaredb/kv/k", "orgs/b"}
	members := []string{"user:u1", "user:u2", "group:g1", "serviceAccount:s1"}
	roles := []string{"roles/flaredb.viewer", "roles/flaredb.editor", "roles/owner", "roles/chainfire.admin"}
	perms := []string{"flaredb.kv.read", "flaredb.kv.write", "chainfire.kv.read"}
	bindings := map[string]*store.Binding{}
	denies := map[string]*store.DenyPolicy{}
	ix := c.Compile(&store.PolicySnapshot{})
	for step := range 400 {
		rev := uint64(step + 1)
		switch op := r.IntN(4); {
		case op == 0 || len(bindings) == 0:
			id := fmt.Sprintf("b%d", r.IntN(12))
			res := resources[r.IntN(len(resources))]
			if old, ok := bindings[id]; ok {
				res = old.Resource // a binding never moves
			}
			b := &store.Binding{ID: id, Resource: res, Role: roles[r.IntN(len(roles))], Members: []string{members[r.IntN(len(members))]}}
			bindings[id] = b
			ix = c.WithBinding(ix, rev, b)
		case op == 1:
			for id, b := range bindings {
				delete(bindings, id)
				ix = ix.WithoutBinding(rev, b.Resource, id)
				break
			}
		case op == 2 || len(denies) == 0:
			id := fmt.Sprintf("d%d", r.IntN(4))
			res := resources[r.IntN(len(resources))]
			if old, ok := denies[id]; ok {
				res = old.Resource
			}
			d := &store.DenyPolicy{ID: id, Resource: res, DeniedPrincipals: []string{members[r.IntN(len(members))]},
				DeniedPermissions: []string{perms[r.IntN(len(perms))]}}
			denies[id] = d
			ix = c.WithDeny(ix, rev, d)
		default:
			for id, d := range denies {
				delete(denies, id)
				ix = ix.WithoutDeny(rev, d.Resource, id)
				break
			}
		}
		snap := &store.PolicySnapshot{Revision: rev}
		for _, b := range bindings {
			snap.Bindings = append(snap.Bindings, b)
		}
		for _, d := range denies {
			snap.Denies = append(snap.Denies, d)
		}
		full := c.Compile(snap)
		if ix.Revision() != rev {
			t.Fatalf("step %d: revision %d", step, ix.Revision())
		}
		for _, p := range []string{"user:u1", "user:u2", "serviceAccount:s1"} {
			for _, perm := range perms {
				for _, res := range resources {
					req := &Request{Principal: p, Groups: []string{"g1"}, Permission: perm, Resource: res}
					if a, b := ix.Decide(req), full.Decide(req); a.Allowed != b.Allowed || a.Reason != b.Reason {
						t.Fatalf("step %d: %s %s %s: incremental %v/%v, compiled %v/%v", step, p, perm, res, a.Allowed, a.Reason, b.Allowed, b.Reason)
					}
				}
			}
		}
	}
}
