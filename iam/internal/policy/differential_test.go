package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/photoncloud/core/iam/internal/store"
)

// The reference evaluator below restates the rules as directly as
// possible, with no index, no early exits and its own condition semantics
// written in Go, so that a bug in the engine's indexing, inheritance,
// pattern matching or condition handling shows up as a disagreement.

type refCond struct {
	expr string
	// eval returns (value, evaluation failed).
	eval func(attrs map[string]string) (bool, bool)
}

var refConds = []refCond{
	{`true`, func(map[string]string) (bool, bool) { return true, false }},
	{`false`, func(map[string]string) (bool, bool) { return false, false }},
	{`request.attributes["env"] == "prod"`, func(a map[string]string) (bool, bool) {
		v, ok := a["env"]
		return v == "prod", !ok
	}},
	{`"env" in request.attributes && request.attributes["env"] == "dev"`, func(a map[string]string) (bool, bool) {
		return a["env"] == "dev", false
	}},
	{`request.attributes["tier"].startsWith("gold")`, func(a map[string]string) (bool, bool) {
		v, ok := a["tier"]
		return strings.HasPrefix(v, "gold"), !ok
	}},
}

func refMatches(pattern, perm string) bool {
	if pattern == "*" {
		return true
	}
	if strings.HasSuffix(pattern, ".*") {
		return strings.HasPrefix(perm, strings.TrimSuffix(pattern, "*"))
	}
	return pattern == perm
}

func refAbove(a, r string) bool {
	if a == Root {
		return true
	}
	as, rs := strings.Split(a, "/"), strings.Split(r, "/")
	return len(as) <= len(rs) && slices.Equal(as, rs[:len(as)])
}

type refWorld struct {
	roles    map[string]*store.Role
	bindings []*store.Binding
	denies   []*store.DenyPolicy
	conds    map[string]refCond
}

// decide returns allowed, and whether a deny policy decided.
func (w *refWorld) decide(principal string, groups []string, perm, res string, attrs map[string]string) (bool, bool) {
	who := append([]string{principal}, func() []string {
		var out []string
		for _, g := range groups {
			out = append(out, "group:"+g)
		}
		return out
	}()...)
	in := func(list []string) bool {
		for _, x := range who {
			if slices.Contains(list, x) {
				return true
			}
		}
		return false
	}
	for _, d := range w.denies {
		if !refAbove(d.Resource, res) || in(d.ExceptionPrincipals) {
			continue
		}
		if !slices.Contains(d.DeniedPrincipals, "*") && !in(d.DeniedPrincipals) {
			continue
		}
		if !slices.ContainsFunc(d.DeniedPermissions, func(p string) bool { return refMatches(p, perm) }) {
			continue
		}
		if d.Condition == nil {
			return false, true
		}
		v, failed := w.conds[d.Condition.Expression].eval(attrs)
		if v || failed {
			return false, true
		}
	}
	for _, b := range w.bindings {
		if !refAbove(b.Resource, res) || !in(b.Members) {
			continue
		}
		role, ok := w.roles[b.Role]
		if !ok || (role.Parent != "" && !refAbove(role.Parent, b.Resource)) {
			continue
		}
		if !slices.ContainsFunc(role.Permissions, func(p string) bool { return refMatches(p, perm) }) {
			continue
		}
		if b.Condition == nil {
			return true, false
		}
		if v, failed := w.conds[b.Condition.Expression].eval(attrs); v && !failed {
			return true, false
		}
	}
	return false, false
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func TestDifferentialAgainstReference(t *testing.T) {
	c := mustConds(t)
	resources := []string{Root, "orgs/a", "orgs/b", "orgs/a/projects/p", "orgs/a/projects/q",
		"orgs/a/projects/p/flaredb/kv/k1", "orgs/a/projects/p/flaredb/kv/k1/sub", "orgs/b/projects/p", "orgs/ab"}
	principals := []string{"user:u1", "user:u2", "serviceAccount:s1"}
	groups := []string{"g1", "g2"}
	members := []string{"user:u1", "user:u2", "serviceAccount:s1", "group:g1", "group:g2"}
	perms := []string{"flaredb.kv.read", "flaredb.kv.write", "chainfire.kv.read", "iam.bindings.set", "flaredb.regions.read"}
	patterns := append(slices.Clone(perms), "flaredb.*", "flaredb.kv.*", "chainfire.*", "*")
	attrSets := []map[string]string{nil, {"env": "prod"}, {"env": "dev"}, {"tier": "gold1"}, {"env": "prod", "tier": "silver"}}

	seed := uint64(20261128)
	r := rand.New(rand.NewPCG(seed, 1))
	const worlds, queriesPerWorld = 300, 40
	checked := 0
	for wi := range worlds {
		w := &refWorld{roles: map[string]*store.Role{}, conds: map[string]refCond{}}
		for _, rc := range refConds {
			w.conds[rc.expr] = rc
		}
		for _, br := range BuiltinRoles() {
			w.roles[br.Name] = br
		}
		var custom []*store.Role
		for i := range 1 + r.IntN(3) {
			role := &store.Role{Name: fmt.Sprintf("roles/custom%d", i)}
			if r.IntN(3) == 0 {
				role.Parent = pick(r, resources[1:])
			}
			for range 1 + r.IntN(3) {
				p := pick(r, patterns)
				if !slices.Contains(role.Permissions, p) {
					role.Permissions = append(role.Permissions, p)
				}
			}
			custom = append(custom, role)
			w.roles[role.Name] = role
		}
		roleNames := []string{"roles/flaredb.viewer", "roles/flaredb.editor", "roles/chainfire.admin", "roles/owner", "roles/missing"}
		for _, cr := range custom {
			roleNames = append(roleNames, cr.Name)
		}
		distinct := func(n int, from []string) []string {
			var out []string
			for range n {
				m := pick(r, from)
				if !slices.Contains(out, m) {
					out = append(out, m)
				}
			}
			return out
		}
		maybeCond := func() *store.Condition {
			if r.IntN(3) == 0 {
				return cond(pick(r, refConds).expr)
			}
			return nil
		}
		for i := range r.IntN(8) {
			w.bindings = append(w.bindings, &store.Binding{ID: fmt.Sprintf("b%d", i), Resource: pick(r, resources),
				Role: pick(r, roleNames), Members: distinct(1+r.IntN(2), members), Condition: maybeCond()})
		}
		for i := range r.IntN(3) {
			d := &store.DenyPolicy{ID: fmt.Sprintf("d%d", i), Resource: pick(r, resources),
				DeniedPrincipals:  distinct(1+r.IntN(2), append(slices.Clone(members), "*")),
				DeniedPermissions: distinct(1+r.IntN(2), patterns), Condition: maybeCond()}
			if r.IntN(3) == 0 {
				d.ExceptionPrincipals = distinct(1, members)
			}
			w.denies = append(w.denies, d)
		}
		ix := c.Compile(&store.PolicySnapshot{Roles: custom, Bindings: w.bindings, Denies: w.denies})
		for range queriesPerWorld {
			p := pick(r, principals)
			var gs []string
			if strings.HasPrefix(p, "user:") {
				gs = distinct(r.IntN(3), groups)
			}
			perm, res, attrs := pick(r, perms), pick(r, resources), pick(r, attrSets)
			wantAllow, wantDenied := w.decide(p, gs, perm, res, attrs)
			req := &Request{Principal: p, Groups: gs, Permission: perm, Resource: res, RequestAttrs: attrs}
			got := ix.Decide(req)
			gotDenied := got.Reason == ReasonDenied || got.Reason == ReasonDenyConditionError
			if got.Allowed != wantAllow || gotDenied != wantDenied {
				t.Fatalf("world %d (seed %d): %s %s %s %v: engine allowed=%v reason=%v, reference allowed=%v denied=%v\nbindings=%s\ndenies=%s\nroles=%s",
					wi, seed, p, perm, res, attrs, got.Allowed, got.Reason, wantAllow, wantDenied, dump(w.bindings), dump(w.denies), dump(custom))
			}
			if ex := ix.Explain(req); ex.Allowed != got.Allowed {
				t.Fatalf("Explain disagrees with Decide on %s %s %s", p, perm, res)
			}
			checked++
		}
	}
	if checked < 10000 {
		t.Fatalf("only %d cases", checked)
	}
}

func dump[T any](xs []*T) string {
	var b strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&b, "%+v ", *x)
	}
	return b.String()
}
