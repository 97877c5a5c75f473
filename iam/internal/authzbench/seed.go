// Package authzbench measures IAM's authorization decisions: it seeds a
// store with a large policy (10,000 bindings over 1,000 resources by
// default), and drives Authorize in process or over loopback RPC, reporting
// throughput and latency percentiles. It backs both the Go benchmarks and
// the iam-authz-bench command.
package authzbench

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/photoncloud/core/iam/internal/auth"
	"github.com/photoncloud/core/iam/internal/policy"
	"github.com/photoncloud/core/iam/internal/store"
)

// Shape describes the seeded policy.
type Shape struct {
	Orgs, ProjectsPerOrg, KeysPerProject int // resources = product
	Bindings                             int
	Users, Groups                        int
	// ConditionalPercent of bindings carry a CEL condition.
	ConditionalPercent int
}

// DefaultShape: 10 orgs x 10 projects x 10 keys = 1,000 resources,
// 10,000 bindings, 1,000 users in 50 groups, 10% conditional.
func DefaultShape() Shape {
	return Shape{Orgs: 10, ProjectsPerOrg: 10, KeysPerProject: 10, Bindings: 10_000, Users: 1000, Groups: 50, ConditionalPercent: 10}
}

// Seeded is what Seed wrote: the question space for load generation and
// the credentials of a trusted service account that may ask about others.
type Seeded struct {
	Shape     Shape
	Resources []string
	Users     []string // member strings
	ClientID  string
	Secret    string
}

var perms = []string{"flaredb.kv.read", "flaredb.kv.write", "chainfire.kv.read", "chainfire.kv.write"}
var roles = []string{"roles/flaredb.viewer", "roles/flaredb.editor", "roles/chainfire.viewer", "roles/chainfire.editor"}

// Seed writes users, groups, bindings and a load-generating service
// account (bound to roles/iam.authorizer on root) into st in a few
// transactions. It is deterministic for a given seed.
func Seed(ctx context.Context, st *store.Bolt, sh Shape, seed uint64) (*Seeded, error) {
	r := rand.New(rand.NewPCG(seed, 7))
	out := &Seeded{Shape: sh}
	for o := range sh.Orgs {
		for p := range sh.ProjectsPerOrg {
			for k := range sh.KeysPerProject {
				out.Resources = append(out.Resources, fmt.Sprintf("orgs/o%d/projects/p%d/flaredb/kv/k%d", o, p, k))
			}
		}
	}
	for g := range sh.Groups {
		if err := st.CreateGroup(ctx, &store.Group{ID: fmt.Sprintf("bg%d", g), Name: fmt.Sprintf("bench-group-%d", g)}); err != nil {
			return nil, err
		}
	}
	for u := range sh.Users {
		id := fmt.Sprintf("bu%d", u)
		if err := st.CreateUser(ctx, &store.User{ID: id, Name: fmt.Sprintf("bench-user-%d", u)}); err != nil {
			return nil, err
		}
		if _, err := st.AddGroupMember(ctx, fmt.Sprintf("bg%d", u%sh.Groups), "", id); err != nil {
			return nil, err
		}
		out.Users = append(out.Users, policy.MemberUser+id)
	}
	sa := &store.ServiceAccount{ID: "sa_benchloader", Name: "bench-loader"}
	if err := st.CreateServiceAccount(ctx, sa); err != nil {
		return nil, err
	}
	secret, hash, err := auth.NewClientSecret("key_benchloader")
	if err != nil {
		return nil, err
	}
	if err := st.CreateServiceAccountKey(ctx, &store.ServiceAccountKey{ID: "key_benchloader", ServiceAccountID: sa.ID, SecretHash: hash}); err != nil {
		return nil, err
	}
	out.ClientID, out.Secret = sa.ID, secret
	_, err = st.WritePolicy(ctx, store.PolicyChange{Action: "bench.seed"}, func(w *store.PolicyWriter) error {
		if err := w.CreateBinding(&store.Binding{ID: "bnd_benchloader", Resource: policy.Root, Role: "roles/iam.authorizer",
			Members: []string{policy.MemberServiceAccount + sa.ID}}); err != nil {
			return err
		}
		for i := range sh.Bindings {
			res := out.Resources[r.IntN(len(out.Resources))]
			// A tenth of the bindings sit on projects, a few on orgs.
			switch r.IntN(20) {
			case 0:
				res = policy.Ancestors(res)[3]
			case 1, 2:
				res = policy.Ancestors(res)[2]
			}
			member := out.Users[r.IntN(len(out.Users))]
			if r.IntN(5) == 0 {
				member = fmt.Sprintf("%sbg%d", policy.MemberGroup, r.IntN(sh.Groups))
			}
			b := &store.Binding{ID: fmt.Sprintf("bnd_bench%d", i), Resource: res, Role: roles[r.IntN(len(roles))], Members: []string{member}}
			if r.IntN(100) < sh.ConditionalPercent {
				b.Condition = &store.Condition{Expression: `request.time < timestamp("2100-01-01T00:00:00Z")`}
			}
			if err := w.CreateBinding(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("authzbench: seeding bindings: %w", err)
	}
	return out, nil
}

// Question is one load-generated Authorize request.
type Question struct{ Principal, Permission, Resource string }

// Questions returns n questions drawn from the seeded space. With distinct
// false they repeat a working set small enough to stay cached.
func (s *Seeded) Questions(n int, seed uint64, workingSet int) []Question {
	r := rand.New(rand.NewPCG(seed, 11))
	out := make([]Question, n)
	for i := range out {
		out[i] = Question{s.Users[r.IntN(len(s.Users))], perms[r.IntN(len(perms))], s.Resources[r.IntN(len(s.Resources))]}
	}
	if workingSet > 0 && workingSet < n {
		for i := workingSet; i < n; i++ {
			out[i] = out[i%workingSet]
		}
	}
	return out
}
