package policy

import (
	"testing"
	"time"

	"github.com/photoncloud/core/iam/internal/store"
)

func mustConds(t testing.TB) *Conditions {
	t.Helper()
	c, err := NewConditions()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cond(expr string) *store.Condition { return &store.Condition{Expression: expr} }

// TestEvaluationMatrix walks the rules one at a time: each case changes one
// thing from a baseline and states the expected answer.
func TestEvaluationMatrix(t *testing.T) {
	c := mustConds(t)
	const (
		alice = "user:alice"
		bob   = "user:bob"
		ci    = "serviceAccount:ci"
		web   = "orgs/acme/projects/web"
		key   = "orgs/acme/projects/web/flaredb/kv/app1"
	)
	type tc struct {
		name      string
		roles     []*store.Role
		bindings  []*store.Binding
		denies    []*store.DenyPolicy
		principal string
		groups    []string
		perm, res string
		attrs     map[string]string
		want      bool
		reason    Reason
	}
	editor := func(id, res string, members ...string) *store.Binding {
		return &store.Binding{ID: id, Resource: res, Role: "roles/flaredb.editor", Members: members}
	}
	cases := []tc{
		{name: "default deny", principal: alice, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "direct binding on resource", bindings: []*store.Binding{editor("b1", key, alice)},
			principal: alice, perm: "flaredb.kv.write", res: key, want: true, reason: ReasonAllowed},
		{name: "inherited from project", bindings: []*store.Binding{editor("b1", web, alice)},
			principal: alice, perm: "flaredb.kv.write", res: key, want: true, reason: ReasonAllowed},
		{name: "inherited from org", bindings: []*store.Binding{editor("b1", "orgs/acme", alice)},
			principal: alice, perm: "flaredb.kv.write", res: key, want: true, reason: ReasonAllowed},
		{name: "inherited from root", bindings: []*store.Binding{editor("b1", Root, alice)},
			principal: alice, perm: "flaredb.kv.write", res: key, want: true, reason: ReasonAllowed},
		{name: "not inherited upwards", bindings: []*store.Binding{editor("b1", key, alice)},
			principal: alice, perm: "flaredb.kv.write", res: web, want: false, reason: ReasonNoMatchingBinding},
		{name: "not inherited by sibling with common prefix", bindings: []*store.Binding{editor("b1", "orgs/acme/projects/we", alice)},
			principal: alice, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "other org isolated", bindings: []*store.Binding{editor("b1", "orgs/other", alice)},
			principal: alice, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "other member", bindings: []*store.Binding{editor("b1", web, bob)},
			principal: alice, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "group membership", bindings: []*store.Binding{editor("b1", web, "group:devs")},
			principal: alice, groups: []string{"devs"}, perm: "flaredb.kv.write", res: key, want: true, reason: ReasonAllowed},
		{name: "group not joined", bindings: []*store.Binding{editor("b1", web, "group:devs")},
			principal: alice, groups: []string{"ops"}, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "service account", bindings: []*store.Binding{editor("b1", web, ci)},
			principal: ci, perm: "flaredb.kv.read", res: key, want: true, reason: ReasonAllowed},
		{name: "role lacks permission", bindings: []*store.Binding{{ID: "b1", Resource: web, Role: "roles/flaredb.viewer", Members: []string{alice}}},
			principal: alice, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "exact match only: other service", bindings: []*store.Binding{editor("b1", web, alice)},
			principal: alice, perm: "chainfire.kv.write", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "exact match only: prefix of verb", bindings: []*store.Binding{{ID: "b1", Resource: web, Role: "roles/r1", Members: []string{alice}}},
			roles:     []*store.Role{{Name: "roles/r1", Permissions: []string{"flaredb.kv.write"}}},
			principal: alice, perm: "flaredb.kv.writeAll", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "wildcard service.*", bindings: []*store.Binding{{ID: "b1", Resource: web, Role: "roles/flaredb.admin", Members: []string{alice}}},
			principal: alice, perm: "flaredb.regions.split", res: key, want: true, reason: ReasonAllowed},
		{name: "wildcard does not cross services", bindings: []*store.Binding{{ID: "b1", Resource: web, Role: "roles/flaredb.admin", Members: []string{alice}}},
			principal: alice, perm: "flaredbx.kv.write", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "custom role outside its parent grants nothing",
			roles:     []*store.Role{{Name: "roles/r1", Parent: "orgs/other", Permissions: []string{"flaredb.kv.write"}}},
			bindings:  []*store.Binding{{ID: "b1", Resource: web, Role: "roles/r1", Members: []string{alice}}},
			principal: alice, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "unknown role grants nothing", bindings: []*store.Binding{{ID: "b1", Resource: web, Role: "roles/nope", Members: []string{alice}}},
			principal: alice, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "deny beats allow", bindings: []*store.Binding{editor("b1", key, alice)},
			denies:    []*store.DenyPolicy{{ID: "d1", Resource: "orgs/acme", DeniedPrincipals: []string{alice}, DeniedPermissions: []string{"flaredb.kv.write"}}},
			principal: alice, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonDenied},
		{name: "deny beats owner", bindings: []*store.Binding{{ID: "b1", Resource: Root, Role: Owner, Members: []string{alice}}},
			denies:    []*store.DenyPolicy{{ID: "d1", Resource: key, DeniedPrincipals: []string{"*"}, DeniedPermissions: []string{"flaredb.*"}}},
			principal: alice, perm: "flaredb.kv.read", res: key, want: false, reason: ReasonDenied},
		{name: "deny via group", bindings: []*store.Binding{editor("b1", key, alice)},
			denies:    []*store.DenyPolicy{{ID: "d1", Resource: web, DeniedPrincipals: []string{"group:contractors"}, DeniedPermissions: []string{"flaredb.kv.write"}}},
			principal: alice, groups: []string{"contractors"}, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonDenied},
		{name: "deny exception", bindings: []*store.Binding{editor("b1", key, alice)},
			denies:    []*store.DenyPolicy{{ID: "d1", Resource: web, DeniedPrincipals: []string{"*"}, ExceptionPrincipals: []string{"group:sre"}, DeniedPermissions: []string{"flaredb.kv.write"}}},
			principal: alice, groups: []string{"sre"}, perm: "flaredb.kv.write", res: key, want: true, reason: ReasonAllowed},
		{name: "deny other permission", bindings: []*store.Binding{editor("b1", key, alice)},
			denies:    []*store.DenyPolicy{{ID: "d1", Resource: web, DeniedPrincipals: []string{alice}, DeniedPermissions: []string{"flaredb.kv.delete"}}},
			principal: alice, perm: "flaredb.kv.write", res: key, want: true, reason: ReasonAllowed},
		{name: "deny below does not apply above", bindings: []*store.Binding{editor("b1", web, alice)},
			denies:    []*store.DenyPolicy{{ID: "d1", Resource: key, DeniedPrincipals: []string{alice}, DeniedPermissions: []string{"*"}}},
			principal: alice, perm: "flaredb.kv.write", res: web, want: true, reason: ReasonAllowed},
		{name: "allow condition true", bindings: []*store.Binding{{ID: "b1", Resource: web, Role: "roles/flaredb.editor", Members: []string{alice},
			Condition: cond(`request.attributes["env"] == "dev"`)}},
			principal: alice, perm: "flaredb.kv.write", res: key, attrs: map[string]string{"env": "dev"}, want: true, reason: ReasonAllowed},
		{name: "allow condition false", bindings: []*store.Binding{{ID: "b1", Resource: web, Role: "roles/flaredb.editor", Members: []string{alice},
			Condition: cond(`request.attributes["env"] == "dev"`)}},
			principal: alice, perm: "flaredb.kv.write", res: key, attrs: map[string]string{"env": "prod"}, want: false, reason: ReasonNoMatchingBinding},
		{name: "allow condition error does not allow", bindings: []*store.Binding{{ID: "b1", Resource: web, Role: "roles/flaredb.editor", Members: []string{alice},
			Condition: cond(`request.attributes["env"] == "dev"`)}},
			principal: alice, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonNoMatchingBinding},
		{name: "deny condition false", bindings: []*store.Binding{editor("b1", key, alice)},
			denies: []*store.DenyPolicy{{ID: "d1", Resource: web, DeniedPrincipals: []string{alice}, DeniedPermissions: []string{"flaredb.kv.write"},
				Condition: cond(`ip_in_cidr(request.source_ip, "10.0.0.0/8")`)}},
			principal: alice, perm: "flaredb.kv.write", res: key, want: true, reason: ReasonAllowed},
		{name: "deny condition erroring denies", bindings: []*store.Binding{editor("b1", key, alice)},
			denies: []*store.DenyPolicy{{ID: "d1", Resource: web, DeniedPrincipals: []string{alice}, DeniedPermissions: []string{"flaredb.kv.write"},
				Condition: cond(`request.attributes["env"] != "prod"`)}},
			principal: alice, perm: "flaredb.kv.write", res: key, want: false, reason: ReasonDenyConditionError},
		{name: "resource attribute condition", bindings: []*store.Binding{{ID: "b1", Resource: web, Role: "roles/flaredb.viewer", Members: []string{alice},
			Condition: cond(`resource.attributes["owner"] == principal.id && resource.service == "flaredb"`)}},
			principal: alice, perm: "flaredb.kv.read", res: key, want: true, reason: ReasonAllowed},
		{name: "time condition", bindings: []*store.Binding{{ID: "b1", Resource: web, Role: "roles/flaredb.viewer", Members: []string{alice},
			Condition: cond(`request.time < timestamp("2030-01-01T00:00:00Z")`)}},
			principal: alice, perm: "flaredb.kv.read", res: key, want: true, reason: ReasonAllowed},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			ix := c.Compile(&store.PolicySnapshot{Revision: 7, Roles: k.roles, Bindings: k.bindings, Denies: k.denies})
			req := &Request{Principal: k.principal, Groups: k.groups, Permission: k.perm, Resource: k.res,
				Time: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), SourceIP: "192.0.2.1", RequestAttrs: k.attrs,
				ResourceAttrs: map[string]string{"owner": "alice"}}
			d := ix.Decide(req)
			if d.Allowed != k.want || d.Reason != k.reason || d.Revision != 7 {
				t.Fatalf("Decide = allowed %v reason %v rev %d, want %v %v 7", d.Allowed, d.Reason, d.Revision, k.want, k.reason)
			}
			e := ix.Explain(req)
			if e.Allowed != k.want || e.Reason != k.reason {
				t.Fatalf("Explain = %v %v, want %v %v", e.Allowed, e.Reason, k.want, k.reason)
			}
			if k.want && (len(d.BindingIDs) != 1 || d.BindingIDs[0] != "b1") {
				t.Fatalf("deciding bindings %v, want [b1]", d.BindingIDs)
			}
			if d.Reason == ReasonDenied || d.Reason == ReasonDenyConditionError {
				if len(d.DenyIDs) != 1 || d.DenyIDs[0] != "d1" {
					t.Fatalf("deciding denies %v, want [d1]", d.DenyIDs)
				}
			}
			if got := len(e.Trace); got != len(k.bindings)+len(k.denies)-countUnreachable(k.bindings, k.denies, k.res) {
				t.Fatalf("explain traced %d policies: %+v", got, e.Trace)
			}
		})
	}
}

func countUnreachable(bs []*store.Binding, ds []*store.DenyPolicy, res string) int {
	n := 0
	for _, b := range bs {
		if !IsAncestorOrSelf(b.Resource, res) {
			n++
		}
	}
	for _, d := range ds {
		if !IsAncestorOrSelf(d.Resource, res) {
			n++
		}
	}
	return n
}

func TestExplainSaysWhy(t *testing.T) {
	c := mustConds(t)
	ix := c.Compile(&store.PolicySnapshot{
		Bindings: []*store.Binding{
			{ID: "b-other", Resource: "orgs/a", Role: "roles/flaredb.editor", Members: []string{"user:bob"}},
			{ID: "b-viewer", Resource: "orgs/a/projects/p", Role: "roles/flaredb.viewer", Members: []string{"user:alice"}},
			{ID: "b-cond", Resource: "orgs/a/projects/p", Role: "roles/flaredb.editor", Members: []string{"user:alice"},
				Condition: cond(`request.attributes["ticket"] != ""`)},
		},
		Denies: []*store.DenyPolicy{{ID: "d1", Resource: "orgs/a", DeniedPrincipals: []string{"user:alice"},
			DeniedPermissions: []string{"flaredb.kv.delete"}}},
	})
	d := ix.Explain(&Request{Principal: "user:alice", Permission: "flaredb.kv.write", Resource: "orgs/a/projects/p/flaredb/kv/x"})
	if d.Allowed {
		t.Fatal("allowed")
	}
	byID := map[string]Explained{}
	for _, e := range d.Trace {
		byID[e.ID] = e
	}
	if e := byID["b-other"]; e.PrincipalMatched || e.Applied {
		t.Fatalf("b-other: %+v", e)
	}
	if e := byID["b-viewer"]; !e.PrincipalMatched || e.PermissionMatched {
		t.Fatalf("b-viewer: %+v", e)
	}
	if e := byID["b-cond"]; e.Condition != CondError || e.Applied {
		t.Fatalf("b-cond: %+v", e)
	}
	if e := byID["d1"]; !e.PrincipalMatched || e.PermissionMatched || e.Applied {
		t.Fatalf("d1: %+v", e)
	}
}

func TestHoldsIsConservative(t *testing.T) {
	c := mustConds(t)
	ix := c.Compile(&store.PolicySnapshot{
		Bindings: []*store.Binding{
			{ID: "b1", Resource: "orgs/a", Role: "roles/flaredb.viewer", Members: []string{"user:alice"}},
			{ID: "b2", Resource: "orgs/a", Role: "roles/chainfire.admin", Members: []string{"user:alice"},
				Condition: cond(`request.attributes["x"] == "y"`)},
			{ID: "b3", Resource: "orgs/a", Role: "roles/iam.admin", Members: []string{"user:alice"}},
		},
		Denies: []*store.DenyPolicy{{ID: "d1", Resource: "orgs/a/projects/p", DeniedPrincipals: []string{"user:alice"},
			DeniedPermissions: []string{"iam.roles.*"}, Condition: cond(`false`)}},
	})
	for _, k := range []struct {
		pattern, res string
		want         bool
	}{
		{"flaredb.kv.read", "orgs/a/projects/p", true},
		{"flaredb.kv.write", "orgs/a", false},
		{"flaredb.*", "orgs/a", false},
		{"chainfire.kv.read", "orgs/a", false}, // only conditionally held
		{"iam.bindings.set", "orgs/a/projects/p", true},
		{"iam.roles.set", "orgs/a", true},
		{"iam.roles.set", "orgs/a/projects/p", false}, // a deny might apply
		{"iam.*", "orgs/a/projects/p", false},
		{"*", "orgs/a", false},
		{"flaredb.kv.read", "orgs/b", false},
	} {
		if got := ix.Holds("user:alice", nil, k.pattern, k.res); got != k.want {
			t.Errorf("Holds(%s, %s) = %v, want %v", k.pattern, k.res, got, k.want)
		}
	}
}

func TestBrokenStoredPoliciesFailClosed(t *testing.T) {
	c := mustConds(t)
	ix := c.Compile(&store.PolicySnapshot{
		Bindings: []*store.Binding{
			{ID: "b1", Resource: "orgs/a", Role: "roles/flaredb.editor", Members: []string{"user:alice"}, Condition: cond(`1 +`)},
			{ID: "b2", Resource: "orgs/a", Role: "roles/flaredb.viewer", Members: []string{"user:alice"}},
		},
		Denies: []*store.DenyPolicy{{ID: "d1", Resource: "orgs/b", DeniedPrincipals: []string{"user:alice"},
			DeniedPermissions: []string{"flaredb.kv.read"}, Condition: cond(`"not bool"`)}},
	})
	if d := ix.Decide(&Request{Principal: "user:alice", Permission: "flaredb.kv.write", Resource: "orgs/a"}); d.Allowed {
		t.Fatal("a binding with a broken condition allowed")
	}
	if d := ix.Decide(&Request{Principal: "user:alice", Permission: "flaredb.kv.read", Resource: "orgs/a"}); !d.Allowed {
		t.Fatal("an intact binding stopped working")
	}
	if d := ix.Decide(&Request{Principal: "user:bob", Permission: "chainfire.kv.read", Resource: "orgs/b/x"}); d.Allowed || d.Reason != ReasonDenyConditionError {
		t.Fatalf("a broken deny policy did not deny: %+v", d)
	}
}
