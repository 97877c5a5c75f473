package authzbench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/photoncloud/core/iam/internal/authz"
	"github.com/photoncloud/core/iam/internal/store"
)

// TestRPCAgreesWithInProcess runs a small shape both ways: the answers
// over RPC must be the in-process answers, and there must be both allows
// and denies (so the comparison means something).
func TestRPCAgreesWithInProcess(t *testing.T) {
	ctx := context.Background()
	sh := Shape{Orgs: 2, ProjectsPerOrg: 2, KeysPerProject: 5, Bindings: 200, Users: 20, Groups: 4, ConditionalPercent: 10}
	local, sd, done, err := InProcess(ctx, t.TempDir(), sh, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	srv, sd2, err := Start(ctx, t.TempDir(), sh)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	remote, err := RPCAsk(ctx, srv, sd2, RPCOptions{Conns: 2})
	if err != nil {
		t.Fatal(err)
	}
	sdk, err := RPCAsk(ctx, srv, sd2, RPCOptions{SDKHTTP1: true})
	if err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for _, q := range sd.Questions(500, 3, 0) {
		a, err1 := local(ctx, q)
		b, err2 := remote(ctx, q)
		c, err3 := sdk(ctx, q)
		if err1 != nil || err2 != nil || err3 != nil || a != b || a != c {
			t.Fatalf("%+v: in-process %v %v, grpc %v %v, sdk http1 %v %v", q, a, err1, b, err2, c, err3)
		}
		if a {
			allowed++
		}
	}
	if allowed == 0 || allowed == 500 {
		t.Fatalf("degenerate workload: %d/500 allowed", allowed)
	}
	for _, ask := range []Ask{remote, sdk} {
		res := Run(ctx, sd2.Questions(200, 4, 0), 4, ask)
		if res.Errors != 0 || res.P99 <= 0 {
			t.Fatalf("load run: %+v", res)
		}
	}
}

func report(b *testing.B, r Result) {
	b.ReportMetric(r.PerSecond(), "decisions/s")
	b.ReportMetric(float64(r.P50.Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(r.P99.Nanoseconds())/1e3, "p99-µs")
	if r.Errors > 0 {
		b.Fatalf("%d errors", r.Errors)
	}
}

func benchShape(b *testing.B) Shape {
	if os.Getenv("PHOTONCLOUD_LONG") == "" && testing.Short() {
		b.Skip("long benchmark")
	}
	return DefaultShape()
}

// BenchmarkAuthorizeInProcess: 10,000 bindings over 1,000 resources,
// decisions through the Authorizer; "hit" repeats a 1,000-question working
// set with the cache on, "miss" has the cache off.
func BenchmarkAuthorizeInProcess(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []struct {
		name string
		ttl  time.Duration
		ws   int
	}{{"hit", time.Hour, 1000}, {"miss", -1, 0}} {
		b.Run(mode.name, func(b *testing.B) {
			ask, sd, done, err := InProcess(ctx, b.TempDir(), benchShape(b), mode.ttl)
			if err != nil {
				b.Fatal(err)
			}
			defer done()
			qs := sd.Questions(max(b.N, 2000), 5, mode.ws)
			Run(ctx, qs[:min(len(qs), 2000)], 4, ask) // warm-up
			b.ResetTimer()
			report(b, Run(ctx, qs[:b.N], 4, ask))
		})
	}
}

// BenchmarkAuthorizeRPC: the same over loopback Connect (protobuf) through
// iamsdk.HTTP1Client, 16 concurrent callers on 16 keep-alive connections.
func BenchmarkAuthorizeRPC(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []struct {
		name  string
		flags []string
		ws    int
	}{{"hit", []string{"--authz-cache-ttl", "1h"}, 1000}, {"miss", []string{"--authz-cache-ttl", "-1s"}, 0}} {
		b.Run(mode.name, func(b *testing.B) {
			srv, sd, err := Start(ctx, b.TempDir(), benchShape(b), mode.flags...)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Stop()
			ask, err := RPCAsk(ctx, srv, sd, RPCOptions{SDKHTTP1: true})
			if err != nil {
				b.Fatal(err)
			}
			qs := sd.Questions(max(b.N, 2000), 5, mode.ws)
			Run(ctx, qs[:min(len(qs), 2000)], 16, ask)
			b.ResetTimer()
			report(b, Run(ctx, qs[:b.N], 16, ask))
		})
	}
}

// BenchmarkPolicyWrite: one binding created (and the index rebuilt) with
// 10,000 bindings already in force.
func BenchmarkPolicyWrite(b *testing.B) {
	ctx := context.Background()
	st, err := store.OpenBolt(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sd, err := Seed(ctx, st, benchShape(b), 1)
	if err != nil {
		b.Fatal(err)
	}
	az, err := authz.New(ctx, authz.Config{}, st, st)
	if err != nil {
		b.Fatal(err)
	}
	// The seeded loader holds roles/iam.authorizer only; make it an owner.
	_, err = st.WritePolicy(ctx, store.PolicyChange{}, func(w *store.PolicyWriter) error {
		return w.CreateBinding(&store.Binding{ID: "bnd_benchowner", Resource: "root", Role: "roles/owner",
			Members: []string{"serviceAccount:" + sd.ClientID}})
	})
	if err != nil {
		b.Fatal(err)
	}
	act := authz.Actor{Principal: "serviceAccount:" + sd.ClientID}
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := az.CreateBinding(ctx, act, &store.Binding{Resource: sd.Resources[i%len(sd.Resources)],
			Role: "roles/flaredb.viewer", Members: []string{sd.Users[i%len(sd.Users)]}}); err != nil {
			b.Fatal(err)
		}
	}
}
