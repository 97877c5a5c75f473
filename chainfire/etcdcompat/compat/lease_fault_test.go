package compat

import (
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLeaseSurvivesKillAll: leases and their keys survive kill -9 of every
// member; a lease nobody keeps alive still expires afterwards.
func TestLeaseSurvivesKillAll(t *testing.T) {
	ctx := deadline(t, 180*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	long := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 300))
	short := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 6))
	for i := range 10 {
		must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, fmt.Sprintf("killall/long/%d", i), "v", clientv3.WithLease(long.ID)))
	}
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "killall/short", "v", clientv3.WithLease(short.ID)))
	c.KillAll(t)
	c.RestartAll(t)
	cli = c.Client(t)
	ttl := must[*clientv3.LeaseTimeToLiveResponse](t, "ttl")(cli.TimeToLive(ctx, long.ID, clientv3.WithAttachedKeys()))
	if ttl.TTL <= 0 || ttl.GrantedTTL != 300 || len(ttl.Keys) != 10 {
		t.Fatalf("after kill -9 of every member: TTL %d granted %d with %d keys, want a live 300s lease with 10 keys", ttl.TTL, ttl.GrantedTTL, len(ttl.Keys))
	}
	if get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "killall/long/", clientv3.WithPrefix(), clientv3.WithCountOnly())); get.Count != 10 {
		t.Fatalf("%d leased keys after restart, want 10", get.Count)
	}
	waitKeyGone(t, ctx, cli, "killall/short", 60*time.Second)
	if _, err := cli.KeepAliveOnce(ctx, long.ID); err != nil {
		t.Fatalf("keepalive of the surviving lease: %v", err)
	}
}

// TestLeaseLeaderKilled: with many live leases kept alive by clientv3, the
// leader is killed; none of them expires, and a lease nobody renews is
// revoked by the new leader.
func TestLeaseLeaderKilled(t *testing.T) {
	ctx := deadline(t, 180*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	leader := c.WaitLeader(t, cli)
	var kept []clientv3.LeaseID
	for i := range 50 {
		g := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 4))
		must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, fmt.Sprintf("lk/kept/%d", i), "v", clientv3.WithLease(g.ID)))
		ch, err := cli.KeepAlive(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range ch {
			}
		}()
		kept = append(kept, g.ID)
	}
	orphan := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 4))
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "lk/orphan", "v", clientv3.WithLease(orphan.ID)))
	c.Kill(t, leader)
	end := time.Now().Add(12 * time.Second) // three TTLs
	for time.Now().Before(end) {
		get, err := cli.Get(ctx, "lk/kept/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil && get.Count != int64(len(kept)) {
			t.Fatalf("%d of %d kept-alive keys left after the leader was killed: a lease expired early", get.Count, len(kept))
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitKeyGone(t, ctx, cli, "lk/orphan", 30*time.Second)
	c.Restart(t, leader)
}
