package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// target is one running cluster and the client connections the rows share.
type target struct {
	impl    cluster.Impl
	cluster *cluster.Cluster
	leader  int
	// order lists member indexes in the order connections are spread over
	// them: connection i talks only to member order[i%len(order)].
	order []int
	conns []*clientv3.Client
}

// startTarget starts a cluster of impl and opens conns connections. It must
// be called from the goroutine that owns h (the harness fails by panicking).
func startTarget(ctx context.Context, h *harnessTB, impl cluster.Impl, o Options) (*target, error) {
	var flags []string
	if o.ProfileDir != "" {
		flags = append(flags, "--enable-pprof")
	}
	c := startCluster(h, impl, o, cluster.Config{Impl: impl, ExtraFlags: flags, LogLevel: "warn", StartTimeout: time.Minute})
	t := &target{impl: impl, cluster: c}
	admin := c.Client(h)
	t.leader = c.WaitLeader(h, admin)
	t.order = spreadOrder(len(c.Members()), t.leader, o.FirstLeader)
	for i := range o.Conns {
		m := c.Member(t.order[i%len(t.order)])
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:   []string{m.Endpoint()},
			DialTimeout: 5 * time.Second,
			Logger:      zap.NewNop(),
		})
		if err != nil {
			t.close()
			return nil, fmt.Errorf("bench: %s connection %d: %w", impl, i, err)
		}
		t.conns = append(t.conns, cli)
	}
	if err := preload(ctx, t); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

// startCluster starts cfg; for ChainfireBefore it starts Chainfire from
// o.Baseline (the harness takes the binary from $CHAINFIRE_BIN).
func startCluster(h *harnessTB, impl cluster.Impl, o Options, cfg cluster.Config) *cluster.Cluster {
	if impl != ChainfireBefore {
		return cluster.Start(h, cfg)
	}
	current := os.Getenv("CHAINFIRE_BIN")
	if err := os.Setenv("CHAINFIRE_BIN", o.Baseline); err != nil {
		h.Fatalf("bench: %v", err)
	}
	defer os.Setenv("CHAINFIRE_BIN", current)
	cfg.Impl = cluster.Chainfire
	return cluster.Start(h, cfg)
}

// spreadOrder puts a follower first (unless firstLeader), then the leader,
// then the other followers, so that a one-connection row talks to the same
// kind of member on both implementations, whichever member won the
// election.
func spreadOrder(n, leader int, firstLeader bool) []int {
	var followers []int
	for i := range n {
		if i != leader {
			followers = append(followers, i)
		}
	}
	if firstLeader || len(followers) == 0 {
		return append([]int{leader}, followers...)
	}
	out := []int{followers[0], leader}
	return append(out, followers[1:]...)
}

// conn returns the connection client i uses: clients are spread round-robin
// over the first min(clients, len(conns)) connections.
func (t *target) conn(i, clients int) *clientv3.Client {
	n := min(clients, len(t.conns))
	return t.conns[i%n]
}

func (t *target) close() {
	for _, c := range t.conns {
		_ = c.Close()
	}
	t.conns = nil
}
