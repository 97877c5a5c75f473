package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/photoncloud/core/iam/internal/store"
)

func FuzzCondition(f *testing.F) {
	for _, s := range []string{`true`, `request.attributes["a"] == "b"`, `ip_in_cidr(request.source_ip, "10.0.0.0/8")`,
		`request.time > timestamp("2020-01-01T00:00:00Z")`, `[1,2,3].all(x, x > 0)`, `"a" * 3`, `1 +`, `resource.attributes`,
		"[1,2].map(x, [1,2,3,4,5,6,7,8].map(y, [1,2,3,4,5,6,7,8].map(z, z))).size() > 0", strings.Repeat("(", 200)} {
		f.Add(s, "10.1.2.3")
	}
	c := mustConds(f)
	f.Fuzz(func(t *testing.T, expr, ip string) {
		prg, err := c.Program(expr)
		if err != nil {
			return
		}
		// A valid condition evaluates to a bool or an error, never a
		// panic, whatever the request holds.
		_, _ = Eval(prg, &Attributes{Time: time.Unix(0, 0), SourceIP: ip, Request: map[string]string{"a": ip}})
		if len(expr) > MaxConditionLen {
			t.Fatalf("accepted a %d-byte condition", len(expr))
		}
	})
}

func FuzzValidators(f *testing.F) {
	for _, s := range []string{"root", "orgs/a", "orgs/a/projects/p/flaredb/kv/x", "orgs//a", "orgs/a/../b", "flaredb.kv.read",
		"flaredb.*", "*", "a.b.c.*", "user:u1", "group:g", "serviceAccount:", "roles/owner"} {
		f.Add(s)
	}
	c := mustConds(f)
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateResource(s) == nil {
			anc := Ancestors(s)
			if anc[0] != s || anc[len(anc)-1] != Root {
				t.Fatalf("Ancestors(%q) = %v", s, anc)
			}
			for _, a := range anc {
				if ValidateResource(a) != nil || !IsAncestorOrSelf(a, s) {
					t.Fatalf("ancestor %q of %q is invalid or not above it", a, s)
				}
			}
			if s != Root && !strings.HasPrefix(s, Org(s)) {
				t.Fatalf("Org(%q) = %q", s, Org(s))
			}
		}
		if ValidatePermission(s) == nil {
			if ValidatePermissionPattern(s) != nil || !PatternMatches(s, s) || strings.Contains(s, "*") {
				t.Fatalf("exact permission %q inconsistent", s)
			}
		}
		if ValidatePermissionPattern(s) == nil && !PatternCovers("*", s) {
			t.Fatalf("* does not cover %q", s)
		}
		if ValidateMember(s) == nil && (strings.ContainsAny(s, " /*") || len(s) > MaxMemberLen) {
			t.Fatalf("member %q accepted", s)
		}
		_ = c.ValidateBinding(&store.Binding{Resource: s, Role: s, Members: []string{s}, Condition: &store.Condition{Expression: s}})
		_ = c.ValidateDenyPolicy(&store.DenyPolicy{Resource: s, DeniedPrincipals: []string{s}, DeniedPermissions: []string{s}})
		_ = ValidateRole(&store.Role{Name: s, Parent: s, Permissions: []string{s}})
	})
}
