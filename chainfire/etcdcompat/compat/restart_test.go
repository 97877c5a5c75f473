package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMemberRestart stops a follower gracefully and kills the leader with
// SIGKILL, each time writing through the rest of the cluster, then restarts
// the member on its data directory and checks that it catches up: both its
// linearizable and its serializable reads return every write it missed.
func TestMemberRestart(t *testing.T) {
	ctx := deadline(t, 120*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	put := func(k, v string) int64 {
		t.Helper()
		// Writes are not retried by clientv3; while a leader is elected
		// they may fail, so retry (fresh values make retries harmless).
		for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			resp, err := cli.Put(rctx, k, v)
			cancel()
			if err == nil {
				return resp.Header.Revision
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("put %s: %v", k, err)
			}
		}
	}
	checkCaughtUp := func(i int, want map[string]int64) {
		t.Helper()
		one := c.Client(t, c.Member(i).Endpoint())
		for k, r := range want {
			get := must[*clientv3.GetResponse](t, "linearizable get")(one.Get(ctx, k))
			if len(get.Kvs) != 1 || get.Kvs[0].ModRevision != r {
				t.Fatalf("restarted %s: linearizable get %s: %v, want mod_revision %d", c.Member(i).Name, k, get.Kvs, r)
			}
			get = must[*clientv3.GetResponse](t, "serializable get")(one.Get(ctx, k, clientv3.WithSerializable()))
			if len(get.Kvs) != 1 || get.Kvs[0].ModRevision != r {
				t.Fatalf("restarted %s: serializable get %s after a linearizable one: %v, want mod_revision %d", c.Member(i).Name, k, get.Kvs, r)
			}
		}
	}

	for _, step := range []struct {
		name   string
		leader bool
		kill   bool
	}{{"stop a follower", false, false}, {"kill -9 the leader", true, true}} {
		t.Run(step.name, func(t *testing.T) {
			leader := c.WaitLeader(t, cli)
			victim := c.Follower(t, cli)
			if step.leader {
				victim = leader
			}
			if step.kill {
				c.Kill(t, victim)
			} else {
				c.Stop(t, victim)
			}
			want := map[string]int64{}
			for i := range 20 {
				k := fmt.Sprintf("restart/%s/%02d", c.Member(victim).Name, i)
				want[k] = put(k, "v")
			}
			// The survivors agree on a leader other than the victim.
			if nl := c.WaitLeader(t, cli); nl == victim {
				t.Fatalf("the stopped member %s is still the leader", c.Member(victim).Name)
			}
			c.Restart(t, victim)
			checkCaughtUp(victim, want)
			if got := c.WaitLeader(t, cli); got < 0 {
				t.Fatalf("no leader after the restart")
			}
		})
	}
}
