package audit

import (
	"context"
	"errors"
	"testing"

	"github.com/photoncloud/core/iam/internal/store"
)

// Policy writes are recorded through the store's policy hook, in the
// write's transaction: a refused write leaves neither change nor record.
func TestPolicyWritesRecorded(t *testing.T) {
	st, l := openLog(t, Config{})
	st.SetPolicyHook(l.PolicyHook())
	ctx := context.Background()
	change := store.PolicyChange{Actor: "user:usr_admin", Action: "iam.roles.create", Target: "roles/r1", Resource: "orgs/a", SourceIP: "10.1.1.1", RequestID: "rq"}
	if _, err := st.WritePolicy(ctx, change, func(w *store.PolicyWriter) error {
		return w.CreateRole(&store.Role{Name: "roles/r1", Parent: "orgs/a", Permissions: []string{"a.b.c"}})
	}); err != nil {
		t.Fatal(err)
	}
	change.Target = "roles/r2"
	if _, err := st.WritePolicy(ctx, change, func(w *store.PolicyWriter) error {
		return errors.New("refused")
	}); err == nil {
		t.Fatal("refused write succeeded")
	}
	recs, _, err := l.Query(ctx, Filter{ResourcePrefix: "orgs/a/"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %+v %v", recs, err)
	}
	r := recs[0]
	if r.Principal != "user:usr_admin" || r.Action != "iam.roles.create" || r.Resource != "orgs/a/roles/r1" ||
		r.SourceIP != "10.1.1.1" || r.RequestID != "rq" || r.Reason != "policy revision 1" {
		t.Fatalf("record: %+v", r)
	}
}
