package compat

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// TestLease drives the lease API through clientv3, both through every
// member and pinned to a follower (so keepalives and time-to-live go
// through the leader's lessor).
func TestLease(t *testing.T) {
	ctx := deadline(t, 180*time.Second)
	c := startCluster(t)
	for _, mode := range clientModes(t, c) {
		cli := mode.cli
		t.Run(mode.name, func(t *testing.T) {
			p := "lease/" + mode.name + "/"
			t.Run("GrantAndLimits", func(t *testing.T) {
				g := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 30))
				if g.ID <= 0 || g.TTL != 30 {
					t.Fatalf("grant 30: id %x TTL %d", g.ID, g.TTL)
				}
				// Below the minimum (1.5 election timeouts): raised to it.
				if g := must[*clientv3.LeaseGrantResponse](t, "grant 1")(cli.Grant(ctx, 1)); g.TTL != 2 {
					t.Fatalf("grant 1: TTL %d, want the minimum 2", g.TTL)
				}
				_, err := cli.Grant(ctx, 9_000_000_001)
				wantErr(t, "grant above the maximum TTL", err, rpctypes.ErrLeaseTTLTooLarge)
			})
			t.Run("ClientChosenID", func(t *testing.T) {
				id := clientv3.LeaseID(0x1000 + len(mode.name))
				// clientv3's Grant always lets the server choose; choose
				// one through the raw lease client instead.
				raw := clientv3.RetryLeaseClient(cli)
				if _, err := raw.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: int64(id), TTL: 20}); err != nil {
					t.Fatalf("grant with id %x: %v", id, err)
				}
				_, err := raw.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: int64(id), TTL: 20})
				wantStatus(t, "grant of an existing id", err, codes.FailedPrecondition, "etcdserver: lease already exists")
				ttl := must[*clientv3.LeaseTimeToLiveResponse](t, "ttl")(cli.TimeToLive(ctx, id))
				if ttl.GrantedTTL != 20 {
					t.Fatalf("client-chosen lease: granted TTL %d", ttl.GrantedTTL)
				}
			})
			t.Run("AttachTimeToLiveRevoke", func(t *testing.T) {
				g := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 60))
				must[*clientv3.PutResponse](t, "put a")(cli.Put(ctx, p+"a", "1", clientv3.WithLease(g.ID)))
				must[*clientv3.PutResponse](t, "put b")(cli.Put(ctx, p+"b", "2", clientv3.WithLease(g.ID)))
				get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p+"a"))
				if clientv3.LeaseID(get.Kvs[0].Lease) != g.ID {
					t.Fatalf("key lease %x, want %x", get.Kvs[0].Lease, g.ID)
				}
				ttl := must[*clientv3.LeaseTimeToLiveResponse](t, "ttl")(cli.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys()))
				var keys []string
				for _, k := range ttl.Keys {
					keys = append(keys, string(k))
				}
				slices.Sort(keys) // etcd lists them in no particular order
				if ttl.TTL <= 0 || ttl.TTL > 60 || ttl.GrantedTTL != 60 || !slices.Equal(keys, []string{p + "a", p + "b"}) {
					t.Fatalf("time-to-live: TTL %d granted %d keys %q", ttl.TTL, ttl.GrantedTTL, keys)
				}
				leases := must[*clientv3.LeaseLeasesResponse](t, "leases")(cli.Leases(ctx))
				if !slices.ContainsFunc(leases.Leases, func(s clientv3.LeaseStatus) bool { return s.ID == g.ID }) {
					t.Fatalf("lease %x missing from Leases %v", g.ID, leases.Leases)
				}
				before := rev(t, ctx, cli)
				must[*clientv3.LeaseRevokeResponse](t, "revoke")(cli.Revoke(ctx, g.ID))
				wantRev(t, ctx, cli, "revoke deletes both keys in one revision", before+1)
				if get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p, clientv3.WithPrefix())); len(get.Kvs) != 0 {
					t.Fatalf("keys left after revoke: %q", keysOf(get.Kvs))
				}
				_, err := cli.Revoke(ctx, g.ID)
				wantErr(t, "second revoke", err, rpctypes.ErrLeaseNotFound)
				if ttl := must[*clientv3.LeaseTimeToLiveResponse](t, "ttl")(cli.TimeToLive(ctx, g.ID)); ttl.TTL != -1 {
					t.Fatalf("time-to-live of a revoked lease: %d, want -1", ttl.TTL)
				}
			})
			t.Run("UnknownLease", func(t *testing.T) {
				_, err := cli.Put(ctx, p+"x", "v", clientv3.WithLease(0x7777))
				wantErr(t, "put with an unknown lease", err, rpctypes.ErrLeaseNotFound)
				_, err = cli.KeepAliveOnce(ctx, 0x7777)
				wantErr(t, "keepalive of an unknown lease", err, rpctypes.ErrLeaseNotFound)
				txn := must[*clientv3.TxnResponse](t, "txn")(cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(p+"none"), "=", 0)).Commit())
				if !txn.Succeeded {
					t.Fatal("LEASE compare on a missing key against 0 failed")
				}
			})
			t.Run("KeepAliveOnceAndCompare", func(t *testing.T) {
				g := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 10))
				must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+"k", "v", clientv3.WithLease(g.ID)))
				ka := must[*clientv3.LeaseKeepAliveResponse](t, "keepalive once")(cli.KeepAliveOnce(ctx, g.ID))
				if ka.ID != g.ID || ka.TTL != 10 {
					t.Fatalf("keepalive once: %+v", ka)
				}
				txn := must[*clientv3.TxnResponse](t, "txn")(cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(p+"k"), "=", int64(g.ID))).
					Then(clientv3.OpPut(p+"k", "w", clientv3.WithIgnoreLease())).Commit())
				if !txn.Succeeded {
					t.Fatal("LEASE compare on the attached key failed")
				}
				get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p+"k"))
				if string(get.Kvs[0].Value) != "w" || clientv3.LeaseID(get.Kvs[0].Lease) != g.ID {
					t.Fatalf("after ignore_lease put: %v", get.Kvs[0])
				}
				must[*clientv3.LeaseRevokeResponse](t, "revoke")(cli.Revoke(ctx, g.ID))
			})
		})
	}
	cli := c.Client(t)
	t.Run("ExpiryAndKeepAlive", func(t *testing.T) {
		expiring := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 2))
		kept := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 2))
		must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "expiry/gone", "v", clientv3.WithLease(expiring.ID)))
		must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "expiry/kept", "v", clientv3.WithLease(kept.ID)))
		kctx, stop := context.WithCancel(ctx)
		defer stop()
		ch, err := cli.KeepAlive(kctx, kept.ID)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range ch { // drain, or clientv3 logs a full channel
			}
		}()
		waitKeyGone(t, ctx, cli, "expiry/gone", 30*time.Second)
		time.Sleep(3 * time.Second) // well past the TTL: only keepalives hold it
		if get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "expiry/kept")); len(get.Kvs) != 1 {
			t.Fatal("a lease kept alive by clientv3's KeepAlive expired")
		}
		stop()
		waitKeyGone(t, ctx, cli, "expiry/kept", 30*time.Second)
	})
}

func waitKeyGone(t *testing.T, ctx context.Context, cli *clientv3.Client, key string, within time.Duration) {
	t.Helper()
	end := time.Now().Add(within)
	for time.Now().Before(end) {
		if get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, key)); len(get.Kvs) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s still exists after %v: its lease never expired", key, within)
}

// TestEtcdctlLease runs `etcdctl lease grant|timetolive|keep-alive|list|revoke`.
func TestEtcdctlLease(t *testing.T) {
	ctx := deadline(t, 120*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	ctl := etcdctl{bin: cluster.EtcdctlBinary(t), eps: c.Endpoints()}

	out := ctl.ok(t, ctx, "", "lease", "grant", "100")
	m := regexp.MustCompile(`^lease ([0-9a-f]+) granted with TTL\(100s\)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("lease grant printed %q", out)
	}
	hexID := m[1]
	id, err := strconv.ParseInt(hexID, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	ctl.want(t, ctx, "OK\n", "", "put", "ctl/leased", "v", "--lease="+hexID)
	if get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "ctl/leased")); len(get.Kvs) != 1 || get.Kvs[0].Lease != id {
		t.Fatalf("etcdctl put --lease: %v", get.Kvs)
	}
	out = ctl.ok(t, ctx, "", "lease", "timetolive", hexID, "--keys")
	want := fmt.Sprintf(`^lease %s granted with TTL\(100s\), remaining\((\d+)s\), attached keys\(\[ctl/leased\]\)\n$`, hexID)
	if m := regexp.MustCompile(want).FindStringSubmatch(out); m == nil {
		t.Fatalf("lease timetolive --keys printed %q, want it to match %s", out, want)
	} else if left, _ := strconv.Atoi(m[1]); left < 90 || left > 100 {
		t.Fatalf("remaining %ds of a 100s lease just granted", left)
	}
	ctl.want(t, ctx, fmt.Sprintf("lease %s keepalived with TTL(100)\n", hexID), "", "lease", "keep-alive", "--once", hexID)
	ctl.want(t, ctx, fmt.Sprintf("found 1 leases\n%s\n", hexID), "", "lease", "list")
	ctl.want(t, ctx, fmt.Sprintf("lease %s revoked\n", hexID), "", "lease", "revoke", hexID)
	ctl.want(t, ctx, "", "", "get", "ctl/leased")
	ctl.want(t, ctx, fmt.Sprintf("lease %s already expired\n", hexID), "", "lease", "timetolive", hexID)
	ctl.want(t, ctx, "found 0 leases\n", "", "lease", "list")
}
