package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ClientConfig returns the clientv3 configuration the tests use for the given
// endpoints (every member's when none are given): a 5 second dial timeout and
// a silent logger.
func (c *Cluster) ClientConfig(endpoints ...string) clientv3.Config {
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	return clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	}
}

// Client returns a clientv3 client for the given endpoints (every member's
// when none are given), closed when the test ends.
func (c *Cluster) Client(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	return NewClient(t, c.ClientConfig(endpoints...))
}

// NewClient returns a client for cfg, closed when the test ends.
func NewClient(t testing.TB, cfg clientv3.Config) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatalf("cluster: clientv3.New(%v): %v", cfg.Endpoints, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// Leader returns the index of the leader that every running member agrees
// on, asking each through Maintenance.Status.
func (c *Cluster) Leader(ctx context.Context, cli *clientv3.Client) (int, error) {
	leader := uint64(0)
	idx := -1
	for i, m := range c.members {
		if !m.Running() {
			continue
		}
		st, err := cli.Status(ctx, m.Endpoint())
		if err != nil {
			return -1, fmt.Errorf("status of %s: %w", m.Name, err)
		}
		if st.Leader == 0 {
			return -1, fmt.Errorf("%s has no leader", m.Name)
		}
		if leader != 0 && st.Leader != leader {
			return -1, fmt.Errorf("members disagree on the leader: %x and %x", leader, st.Leader)
		}
		leader = st.Leader
		if st.Header.MemberId == st.Leader {
			idx = i
		}
	}
	if idx < 0 {
		return -1, fmt.Errorf("no running member is the leader %x", leader)
	}
	return idx, nil
}

// WaitLeader waits (up to the start timeout) until every running member
// agrees on one leader, and returns its index.
func (c *Cluster) WaitLeader(t testing.TB, cli *clientv3.Client) int {
	t.Helper()
	deadline := time.Now().Add(c.timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		idx, err := c.Leader(ctx, cli)
		cancel()
		if err == nil {
			return idx
		}
		if status.Code(errors.Unwrap(err)) == codes.Unimplemented {
			t.Fatalf("cluster: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster: no agreed leader within %v: %v", c.timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Follower returns the index of a member that is not the leader.
func (c *Cluster) Follower(t testing.TB, cli *clientv3.Client) int {
	t.Helper()
	leader := c.WaitLeader(t, cli)
	for i, m := range c.members {
		if i != leader && m.Running() {
			return i
		}
	}
	t.Fatalf("cluster: no running follower")
	return -1
}
