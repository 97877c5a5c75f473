package compat

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// TestSnapshotRestoreRoundTrip takes a snapshot with etcdctl snapshot
// save, checks snapshot status on it, restores it with snapshot restore
// into a new 3-member cluster and finds every key, value and revision (and
// older history) there, leases and their keys included. The offline tool is chainfire's own subcommands
// for Chainfire and etcdutl for etcd, with the same flags.
func TestSnapshotRestoreRoundTrip(t *testing.T) {
	impl, err := cluster.ImplFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	ctx := deadline(t, 150*time.Second)
	src := startCluster(t)
	cli := src.Client(t)
	for i := range 100 {
		must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, fmt.Sprintf("restore/%03d", i), fmt.Sprintf("v1-%d", i)))
	}
	mid := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "restore/marker", "mid")).Header.Revision
	for i := range 50 {
		must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, fmt.Sprintf("restore/%03d", i), fmt.Sprintf("v2-%d", i)))
	}
	must[*clientv3.DeleteResponse](t, "delete")(cli.Delete(ctx, "restore/09", clientv3.WithPrefix()))
	lease := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 600))
	for _, k := range []string{"restore/leased/a", "restore/leased/b"} {
		must[*clientv3.PutResponse](t, "put with lease")(cli.Put(ctx, k, "l", clientv3.WithLease(lease.ID)))
	}
	want := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "", clientv3.WithPrefix()))
	wantMid := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "restore/", clientv3.WithPrefix(), clientv3.WithRev(mid)))

	file := filepath.Join(t.TempDir(), "backup.db")
	ctl := etcdctl{bin: cluster.EtcdctlBinary(t), eps: src.Endpoints()[:1]}
	ctl.ok(t, ctx, "", "snapshot", "save", file)

	bin := cluster.SnapshotTool(t, impl)
	status, err := exec.CommandContext(ctx, bin, "snapshot", "status", "-w", "json", file).Output()
	if err != nil {
		t.Fatalf("chainfire snapshot status: %v", err)
	}
	st := decodeJSON[struct {
		Revision int64 `json:"revision"`
		TotalKey int   `json:"totalKey"`
		Size     int64 `json:"totalSize"`
	}](t, "snapshot status", string(status))
	// Chainfire counts live keys; etcdutl counts every bbolt record, so
	// only a lower bound holds for both.
	exact := impl != cluster.Chainfire || st.TotalKey == len(want.Kvs)
	if st.Revision != want.Header.Revision || st.TotalKey < len(want.Kvs) || !exact || st.Size <= 0 {
		t.Fatalf("snapshot status %+v; the cluster had revision %d and %d keys", st, want.Header.Revision, len(want.Kvs))
	}

	dst := cluster.Start(t, cluster.Config{Members: 3, BeforeStart: func(m *cluster.Member, initial, token string) error {
		out, err := exec.CommandContext(ctx, bin, "snapshot", "restore", file,
			"--data-dir="+m.DataDir, "--name="+m.Name, "--initial-cluster="+initial,
			"--initial-cluster-token="+token, "--initial-advertise-peer-urls="+m.PeerURL).CombinedOutput()
		if err != nil {
			return fmt.Errorf("chainfire snapshot restore: %v: %s", err, out)
		}
		return nil
	}})
	for _, ep := range dst.Endpoints() {
		dcli := dst.Client(t, ep)
		got := must[*clientv3.GetResponse](t, "get restored")(dcli.Get(ctx, "", clientv3.WithPrefix()))
		if got.Header.Revision != want.Header.Revision || !sameKVs(got.Kvs, want.Kvs) {
			t.Fatalf("%s after restore: revision %d, %d keys; want revision %d, %d keys", ep, got.Header.Revision, len(got.Kvs), want.Header.Revision, len(want.Kvs))
		}
		gotMid := must[*clientv3.GetResponse](t, "get restored history")(dcli.Get(ctx, "restore/", clientv3.WithPrefix(), clientv3.WithRev(mid)))
		if !sameKVs(gotMid.Kvs, wantMid.Kvs) {
			t.Fatalf("%s after restore: history at revision %d differs", ep, mid)
		}
		if got.Header.ClusterId == want.Header.ClusterId {
			t.Fatalf("restored cluster kept the old cluster id %x", got.Header.ClusterId)
		}
	}
	ttl := must[*clientv3.LeaseTimeToLiveResponse](t, "restored lease")(dst.Client(t).TimeToLive(ctx, lease.ID, clientv3.WithAttachedKeys()))
	if ttl.TTL <= 0 || ttl.GrantedTTL != 600 || len(ttl.Keys) != 2 {
		t.Fatalf("restored lease: TTL %d granted %d keys %q; want a live 600s lease with 2 keys", ttl.TTL, ttl.GrantedTTL, ttl.Keys)
	}
	must[*clientv3.LeaseRevokeResponse](t, "revoke restored lease")(dst.Client(t).Revoke(ctx, lease.ID))
	if got := must[*clientv3.GetResponse](t, "get")(dst.Client(t).Get(ctx, "restore/leased/", clientv3.WithPrefix())); len(got.Kvs) != 0 {
		t.Fatalf("revoking the restored lease left %q", keysOf(got.Kvs))
	}
	want.Header.Revision++ // the revoke
	put := must[*clientv3.PutResponse](t, "put after restore")(dst.Client(t).Put(ctx, "restore/new", "x"))
	if put.Header.Revision != want.Header.Revision+1 {
		t.Fatalf("first write after restore at revision %d, want %d", put.Header.Revision, want.Header.Revision+1)
	}
}

func sameKVs(a, b []*mvccpb.KeyValue) bool {
	return slices.EqualFunc(a, b, func(x, y *mvccpb.KeyValue) bool {
		return string(x.Key) == string(y.Key) && string(x.Value) == string(y.Value) &&
			x.CreateRevision == y.CreateRevision && x.ModRevision == y.ModRevision && x.Version == y.Version && x.Lease == y.Lease
	})
}
