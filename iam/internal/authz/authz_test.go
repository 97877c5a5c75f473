package authz

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/photoncloud/core/iam/internal/policy"
	"github.com/photoncloud/core/iam/internal/store"
)

type fixture struct {
	st *store.Bolt
	az *Authorizer
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, u := range []string{"root", "alice", "bob", "carol"} {
		if err := st.CreateUser(ctx, &store.User{ID: u, Name: u + "-name"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateGroup(ctx, &store.Group{ID: "admins", Name: "admins"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddGroupMember(ctx, "admins", "", "root"); err != nil {
		t.Fatal(err)
	}
	az, err := New(ctx, cfg, st, st)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := az.Bootstrap(ctx, "admins"); err != nil || !ok {
		t.Fatalf("bootstrap: %v %v", ok, err)
	}
	return &fixture{st: st, az: az}
}

var root = Actor{Principal: "user:root"}

func as(u string) Actor { return Actor{Principal: "user:" + u} }

func (f *fixture) bind(t testing.TB, act Actor, res, role string, members ...string) (*store.Binding, uint64) {
	t.Helper()
	b, rev, err := f.az.CreateBinding(context.Background(), act, &store.Binding{Resource: res, Role: role, Members: members})
	if err != nil {
		t.Fatalf("binding %s on %s: %v", role, res, err)
	}
	return b, rev
}

func (f *fixture) allowed(t testing.TB, principal, perm, res string, minRev uint64) bool {
	t.Helper()
	d, _, err := f.az.Authorize(context.Background(), &Query{Principal: principal, Permission: perm, Resource: res, MinRevision: minRev})
	if err != nil {
		t.Fatal(err)
	}
	return d.Allowed
}

func TestEscalationNeedsHoldingTheRole(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	// alice may set bindings on the project, and only read FlareDB there.
	f.bind(t, root, "orgs/acme/projects/web", "roles/iam.editor", "user:alice")
	f.bind(t, root, "orgs/acme/projects/web", "roles/flaredb.viewer", "user:alice")

	// She can grant what she holds...
	if _, _, err := f.az.CreateBinding(ctx, as("alice"), &store.Binding{Resource: "orgs/acme/projects/web/flaredb/kv/a",
		Role: "roles/flaredb.viewer", Members: []string{"user:bob"}}); err != nil {
		t.Fatalf("granting a held role: %v", err)
	}
	// ...but not a role containing flaredb.kv.write, to anyone, herself
	// included.
	for _, who := range []string{"user:bob", "user:alice"} {
		_, _, err := f.az.CreateBinding(ctx, as("alice"), &store.Binding{Resource: "orgs/acme/projects/web",
			Role: "roles/flaredb.editor", Members: []string{who}})
		if !errors.Is(err, ErrPermissionDenied) {
			t.Fatalf("granting flaredb.editor to %s: %v", who, err)
		}
	}
	// Nor through a custom role she defines...
	if _, _, err := f.az.CreateRole(ctx, as("alice"), &store.Role{Name: "roles/sneaky", Parent: "orgs/acme/projects/web",
		Permissions: []string{"flaredb.kv.write"}}); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("custom role with unheld permission: %v", err)
	}
	// ...nor by widening a role that is already bound to her.
	f.bind(t, root, "orgs/acme/projects/web", "roles/iam.admin", "user:carol")
	r, _, err := f.az.CreateRole(ctx, root, &store.Role{Name: "roles/reader", Parent: "orgs/acme", Permissions: []string{"flaredb.kv.read"}})
	if err != nil {
		t.Fatal(err)
	}
	f.bind(t, root, "orgs/acme/projects/web", "roles/reader", "user:alice")
	f.bind(t, root, "orgs/acme", "roles/iam.editor", "user:alice")
	r.Permissions = []string{"flaredb.kv.read", "flaredb.kv.write"}
	if _, _, err := f.az.UpdateRole(ctx, as("alice"), r, ""); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("widening a bound role: %v", err)
	}
	// Nor by adding herself to a binding of a stronger role.
	b, _ := f.bind(t, root, "orgs/acme/projects/web", "roles/flaredb.admin", "user:bob")
	b.Members = append(b.Members, "user:alice")
	if _, _, err := f.az.UpdateBinding(ctx, as("alice"), b, ""); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("joining a stronger binding: %v", err)
	}
	if f.allowed(t, "user:alice", "flaredb.kv.write", "orgs/acme/projects/web", 0) {
		t.Fatal("alice escalated to flaredb.kv.write")
	}
	// Without iam.bindings.set there is nothing to grant at all.
	if _, _, err := f.az.CreateBinding(ctx, as("bob"), &store.Binding{Resource: "orgs/acme/projects/web/flaredb/kv/a",
		Role: "roles/flaredb.viewer", Members: []string{"user:carol"}}); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("bob without iam.bindings.set: %v", err)
	}
	// A conditional grant is not "holding": it may not apply when used.
	f.bind(t, root, "orgs/acme/projects/web", "roles/iam.editor", "user:dave")
	if _, _, err := f.az.CreateBinding(ctx, root, &store.Binding{Resource: "orgs/acme/projects/web", Role: "roles/chainfire.editor",
		Members: []string{"user:dave"}, Condition: &store.Condition{Expression: `request.attributes["x"] == "y"`}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.az.CreateBinding(ctx, as("dave"), &store.Binding{Resource: "orgs/acme/projects/web",
		Role: "roles/chainfire.viewer", Members: []string{"user:bob"}}); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("granting a conditionally held role: %v", err)
	}
}

func TestSetAnyAllowsGrantingWithoutHolding(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	_, _, err := f.az.CreateRole(ctx, root, &store.Role{Name: "roles/granter", Parent: "orgs/acme",
		Permissions: []string{policy.PermBindingsSet, policy.PermBindingsSetAny}})
	if err != nil {
		t.Fatal(err)
	}
	f.bind(t, root, "orgs/acme", "roles/granter", "user:alice")
	if _, _, err := f.az.CreateBinding(ctx, as("alice"), &store.Binding{Resource: "orgs/acme/projects/p",
		Role: "roles/flaredb.admin", Members: []string{"user:bob"}}); err != nil {
		t.Fatalf("setAny: %v", err)
	}
}

func TestCannotEditOwnDenyPolicyAway(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	f.bind(t, root, "orgs/acme", "roles/iam.admin", "user:alice")
	f.bind(t, root, "orgs/acme", "roles/flaredb.editor", "user:alice")
	d, rev, err := f.az.CreateDenyPolicy(ctx, root, &store.DenyPolicy{Resource: "orgs/acme",
		DeniedPrincipals: []string{"group:admins-not", "user:alice"}, DeniedPermissions: []string{"flaredb.kv.write"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.allowed(t, "user:alice", "flaredb.kv.write", "orgs/acme/projects/p", rev) {
		t.Fatal("deny policy did not apply")
	}
	if _, err := f.az.DeleteDenyPolicy(ctx, as("alice"), d.ID, ""); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("deleting own deny: %v", err)
	}
	edit := *d
	edit.ExceptionPrincipals = []string{"user:alice"}
	if _, _, err := f.az.UpdateDenyPolicy(ctx, as("alice"), &edit, ""); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("exempting herself: %v", err)
	}
	// She may still add new deny policies, and another admin may lift hers.
	if _, _, err := f.az.CreateDenyPolicy(ctx, as("alice"), &store.DenyPolicy{Resource: "orgs/acme/projects/p",
		DeniedPrincipals: []string{"user:bob"}, DeniedPermissions: []string{"flaredb.*"}}); err != nil {
		t.Fatal(err)
	}
	rev, err = f.az.DeleteDenyPolicy(ctx, root, d.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if !f.allowed(t, "user:alice", "flaredb.kv.write", "orgs/acme/projects/p", rev) {
		t.Fatal("lifting the deny did not restore the grant")
	}
}

func TestCrossOrganizationIsolation(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	f.bind(t, root, "orgs/acme", "roles/owner", "user:alice")
	f.bind(t, root, "orgs/globex", "roles/flaredb.viewer", "user:bob")
	r, _, err := f.az.CreateRole(ctx, as("alice"), &store.Role{Name: "roles/acme.reader", Parent: "orgs/acme", Permissions: []string{"flaredb.kv.read"}})
	if err != nil {
		t.Fatal(err)
	}
	// alice owns acme and nothing of globex: she can neither grant, read
	// nor deny there, nor carry acme's custom role over.
	if _, _, err := f.az.CreateBinding(ctx, as("alice"), &store.Binding{Resource: "orgs/globex", Role: "roles/flaredb.viewer",
		Members: []string{"user:alice"}}); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("grant in other org: %v", err)
	}
	if _, err := f.az.ListBindings(ctx, as("alice"), "orgs/globex"); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("list in other org: %v", err)
	}
	if _, _, err := f.az.CreateDenyPolicy(ctx, as("alice"), &store.DenyPolicy{Resource: "orgs/globex",
		DeniedPrincipals: []string{"user:bob"}, DeniedPermissions: []string{"*"}}); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("deny in other org: %v", err)
	}
	if _, _, err := f.az.CreateBinding(ctx, root, &store.Binding{Resource: "orgs/globex", Role: r.Name,
		Members: []string{"user:bob"}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("acme role granted in globex: %v", err)
	}
	if f.allowed(t, "user:alice", "flaredb.kv.read", "orgs/globex/projects/p", 0) {
		t.Fatal("acme owner reads globex")
	}
	if !f.allowed(t, "user:alice", "flaredb.kv.write", "orgs/acme/projects/p", 0) {
		t.Fatal("acme owner cannot write acme")
	}
	// A prefix-sharing org name is another org.
	if f.allowed(t, "user:alice", "flaredb.kv.read", "orgs/acmeco", 0) {
		t.Fatal("orgs/acme grant leaked to orgs/acmeco")
	}
}

func TestRevokeThenAuthorizeWithTokenDenies(t *testing.T) {
	f := newFixture(t, Config{CacheTTL: time.Hour})
	ctx := context.Background()
	b, _ := f.bind(t, root, "orgs/acme/projects/p", "roles/flaredb.editor", "user:alice")
	// Warm the cache with an allow.
	for range 3 {
		if !f.allowed(t, "user:alice", "flaredb.kv.write", "orgs/acme/projects/p/flaredb/kv/k", 0) {
			t.Fatal("not allowed before revoke")
		}
	}
	rev, err := f.az.DeleteBinding(ctx, root, b.ID, b.ETag())
	if err != nil {
		t.Fatal(err)
	}
	d, cached, err := f.az.Authorize(ctx, &Query{Principal: "user:alice", Permission: "flaredb.kv.write",
		Resource: "orgs/acme/projects/p/flaredb/kv/k", MinRevision: rev})
	if err != nil || d.Allowed || cached || d.Revision < rev {
		t.Fatalf("after revoke with token: allowed=%v cached=%v rev=%d err=%v", d.Allowed, cached, d.Revision, err)
	}
	// A token from the future is refused rather than silently ignored.
	if _, _, err := f.az.Authorize(ctx, &Query{Principal: "user:alice", Permission: "flaredb.kv.write",
		Resource: "orgs/acme", MinRevision: rev + 10}); !errors.Is(err, ErrFutureToken) {
		t.Fatalf("future token: %v", err)
	}
}

func TestCacheServesAndInvalidates(t *testing.T) {
	f := newFixture(t, Config{CacheTTL: time.Hour})
	ctx := context.Background()
	q := &Query{Principal: "user:bob", Permission: "chainfire.kv.read", Resource: "orgs/acme"}
	if d, cached, _ := f.az.Authorize(ctx, q); d.Allowed || cached {
		t.Fatalf("first: %v %v", d.Allowed, cached)
	}
	if _, cached, _ := f.az.Authorize(ctx, q); !cached {
		t.Fatal("second lookup missed the cache")
	}
	f.bind(t, root, "orgs/acme", "roles/chainfire.viewer", "user:bob")
	// Even without a token, a write through this Authorizer moves the
	// revision, which retires every cached entry.
	if d, cached, _ := f.az.Authorize(ctx, q); !d.Allowed || cached {
		t.Fatalf("after grant: allowed=%v cached=%v", d.Allowed, cached)
	}
	// Conditional decisions are never cached.
	f.bind(t, root, "orgs/acme", "roles/flaredb.viewer", "user:bob")
	_, _, err := f.az.CreateBinding(ctx, root, &store.Binding{Resource: "orgs/acme", Role: "roles/flaredb.editor",
		Members: []string{"user:bob"}, Condition: &store.Condition{Expression: `request.attributes["env"] == "dev"`}})
	if err != nil {
		t.Fatal(err)
	}
	cq := &Query{Principal: "user:bob", Permission: "flaredb.kv.write", Resource: "orgs/acme", RequestAttrs: map[string]string{"env": "dev"}}
	f.az.Authorize(ctx, cq)
	if d, cached, _ := f.az.Authorize(ctx, cq); !d.Allowed || cached {
		t.Fatalf("conditional: allowed=%v cached=%v", d.Allowed, cached)
	}
	cq.RequestAttrs = map[string]string{"env": "prod"}
	if d, _, _ := f.az.Authorize(ctx, cq); d.Allowed {
		t.Fatal("conditional decision leaked across attributes")
	}
}

func TestEtagsAndValidation(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	b, _ := f.bind(t, root, "orgs/acme", "roles/flaredb.viewer", "user:bob")
	b.Role = "roles/flaredb.editor"
	if _, _, err := f.az.UpdateBinding(ctx, root, b, "999"); !errors.Is(err, store.ErrEtagMismatch) {
		t.Fatalf("stale etag: %v", err)
	}
	nb, _, err := f.az.UpdateBinding(ctx, root, b, b.ETag())
	if err != nil || nb.Role != "roles/flaredb.editor" || nb.ETag() == b.ETag() {
		t.Fatalf("update: %+v %v", nb, err)
	}
	for _, bad := range []*store.Binding{
		{Resource: "orgs/acme/../x", Role: "roles/owner", Members: []string{"user:bob"}},
		{Resource: "orgs/acme", Role: "roles/owner", Members: []string{"bob"}},
		{Resource: "orgs/acme", Role: "roles/owner", Members: []string{"user:bob"}, Condition: &store.Condition{Expression: "1 + 1"}},
		{Resource: "orgs/acme", Role: "roles/owner", Members: nil},
	} {
		if _, _, err := f.az.CreateBinding(ctx, root, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("accepted %+v: %v", bad, err)
		}
	}
	if _, _, err := f.az.CreateBinding(ctx, root, &store.Binding{Resource: "orgs/acme", Role: "roles/nope", Members: []string{"user:bob"}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("unknown role: %v", err)
	}
	if _, _, err := f.az.CreateRole(ctx, root, &store.Role{Name: "roles/owner", Permissions: []string{"*"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("redefining a built-in: %v", err)
	}
	if _, err := f.az.DeleteRole(ctx, root, "roles/missing", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting a missing role: %v", err)
	}
}

// TestConcurrentWritesStayChecked races grants and revocations of alice's
// right to grant: no grant may be committed by her after her right was
// revoked (every committed grant must have been checked at the revision it
// was written on).
func TestConcurrentWritesStayChecked(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	b, _ := f.bind(t, root, "orgs/acme", "roles/iam.editor", "user:alice")
	f.bind(t, root, "orgs/acme", "roles/flaredb.viewer", "user:alice")
	var wg sync.WaitGroup
	wg.Add(2)
	var revokedAt uint64
	go func() {
		defer wg.Done()
		rev, err := f.az.DeleteBinding(ctx, root, b.ID, "")
		if err != nil {
			t.Error(err)
		}
		revokedAt = rev
	}()
	var granted []uint64
	go func() {
		defer wg.Done()
		for range 20 {
			_, rev, err := f.az.CreateBinding(ctx, as("alice"), &store.Binding{Resource: "orgs/acme/projects/p",
				Role: "roles/flaredb.viewer", Members: []string{"user:bob"}})
			if err == nil {
				granted = append(granted, rev)
			}
		}
	}()
	wg.Wait()
	for _, g := range granted {
		if g > revokedAt {
			t.Fatalf("grant committed at revision %d after revocation at %d", g, revokedAt)
		}
	}
}

type recorded struct {
	mu   sync.Mutex
	recs []DecisionRecord
}

func (r *recorded) RecordDecision(_ context.Context, d DecisionRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, d)
}

func TestDecisionsAreRecorded(t *testing.T) {
	f := newFixture(t, Config{})
	rec := &recorded{}
	f.az.SetRecorder(rec)
	f.allowed(t, "user:alice", "flaredb.kv.write", "orgs/acme", 0)
	f.allowed(t, "user:root", "flaredb.kv.write", "orgs/acme", 0)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.recs) != 2 || rec.recs[0].Allowed || rec.recs[0].Reason != policy.ReasonNoMatchingBinding ||
		!rec.recs[1].Allowed || rec.recs[1].BindingIDs[0] != "bnd_bootstrap_admins" || rec.recs[1].Principal != "user:root" {
		t.Fatalf("records: %+v", rec.recs)
	}
}

func TestAdminChangesReachTheStoreHook(t *testing.T) {
	f := newFixture(t, Config{})
	var got []store.PolicyChange
	f.st.SetPolicyHook(func(_ *bolt.Tx, c store.PolicyChange) error { got = append(got, c); return nil })
	b, _ := f.bind(t, root, "orgs/acme", "roles/flaredb.viewer", "user:bob")
	// A refused change never reaches the hook (nothing is written).
	if _, err := f.az.DeleteBinding(context.Background(), as("bob"), b.ID, ""); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("bob deleting: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("hook called for a refused write: %+v", got)
	}
	if _, err := f.az.DeleteBinding(context.Background(), Actor{Principal: "user:root", SourceIP: "192.0.2.7"}, b.ID, ""); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Action != "iam.bindings.delete" || got[1].Resource != "orgs/acme" || got[1].Target != b.ID ||
		got[1].Actor != "user:root" || got[1].SourceIP != "192.0.2.7" || got[1].Revision != got[0].Revision+1 {
		t.Fatalf("hook saw %+v", got)
	}
}

// TestFutureTokensCannotForceReloads: tokens ahead of the store are
// refused from a cheap revision read, not by rebuilding the index.
func TestFutureTokensCannotForceReloads(t *testing.T) {
	f := newFixture(t, Config{})
	before := f.az.fullReloads.Load()
	rev, _ := f.st.PolicyRevision(context.Background())
	for i := range 50 {
		_, _, err := f.az.Authorize(context.Background(), &Query{Principal: "user:bob", Permission: "flaredb.kv.read",
			Resource: "orgs/acme", MinRevision: rev + 1 + uint64(i)})
		if !errors.Is(err, ErrFutureToken) {
			t.Fatalf("future token: %v", err)
		}
	}
	if n := f.az.fullReloads.Load() - before; n != 0 {
		t.Fatalf("%d full reloads", n)
	}
}
