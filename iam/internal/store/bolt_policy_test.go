package store

import (
	"context"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestPolicyWritesAndHook(t *testing.T) {
	st, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	var seen []PolicyChange
	st.SetPolicyHook(func(tx *bolt.Tx, c PolicyChange) error {
		if !tx.Writable() {
			t.Error("hook outside the write transaction")
		}
		if c.Target == "fail" {
			return errors.New("hook refuses")
		}
		seen = append(seen, c)
		return nil
	})
	rev, err := st.WritePolicy(ctx, PolicyChange{Action: "iam.roles.create", Target: "roles/r1"}, func(w *PolicyWriter) error {
		if w.Revision != 0 {
			t.Errorf("first write sees revision %d", w.Revision)
		}
		return w.CreateRole(&Role{Name: "roles/r1", Parent: "orgs/a", Permissions: []string{"a.b.c"}})
	})
	if err != nil || rev != 1 || len(seen) != 1 || seen[0].Revision != 1 {
		t.Fatalf("write: rev %d err %v hook %+v", rev, err, seen)
	}
	rev, err = st.WritePolicy(ctx, PolicyChange{Target: "b1"}, func(w *PolicyWriter) error {
		w.Change.Resource = "orgs/a"
		return w.CreateBinding(&Binding{ID: "b1", Resource: "orgs/a", Role: "roles/r1", Members: []string{"user:u"}})
	})
	if err != nil || rev != 2 || seen[1].Resource != "orgs/a" {
		t.Fatalf("binding: %d %v %+v", rev, err, seen)
	}
	// A failing hook aborts the write: no binding, no revision bump. This
	// is what makes "no change without its audit record" hold.
	_, err = st.WritePolicy(ctx, PolicyChange{Target: "fail"}, func(w *PolicyWriter) error {
		return w.CreateBinding(&Binding{ID: "b2", Resource: "orgs/a", Role: "roles/r1", Members: []string{"user:u"}})
	})
	if err == nil {
		t.Fatal("write succeeded although its hook failed")
	}
	if _, err := st.GetBinding(ctx, "b2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("aborted binding present: %v", err)
	}
	if r, _ := st.PolicyRevision(ctx); r != 2 {
		t.Fatalf("revision after aborted write = %d", r)
	}
	// A role in use cannot go; listings follow the indexes.
	_, err = st.WritePolicy(ctx, PolicyChange{}, func(w *PolicyWriter) error { return w.DeleteRole("roles/r1", "") })
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("deleting a used role: %v", err)
	}
	if bs, _ := st.ListBindings(ctx, "orgs/a"); len(bs) != 1 {
		t.Fatalf("list bindings: %v", bs)
	}
	if rs, _ := st.ListRoles(ctx, "orgs/a"); len(rs) != 1 {
		t.Fatalf("list roles: %v", rs)
	}
	// Etags guard updates; resources cannot move.
	_, err = st.WritePolicy(ctx, PolicyChange{}, func(w *PolicyWriter) error {
		_, err := w.UpdateBinding("b1", "7", func(b *Binding) error { return nil })
		return err
	})
	if !errors.Is(err, ErrEtagMismatch) {
		t.Fatalf("stale etag: %v", err)
	}
	_, err = st.WritePolicy(ctx, PolicyChange{}, func(w *PolicyWriter) error {
		_, err := w.UpdateBinding("b1", "1", func(b *Binding) error { b.Resource = "orgs/b"; return nil })
		return err
	})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("moving a binding: %v", err)
	}
	snap, err := st.PolicySnapshot(ctx)
	if err != nil || snap.Revision != 2 || len(snap.Roles) != 1 || len(snap.Bindings) != 1 {
		t.Fatalf("snapshot: %+v %v", snap, err)
	}
}
