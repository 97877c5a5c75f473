package compat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// quotaBytes is the --quota-backend-bytes of the quota test: small, so
// filling it is quick.
const quotaBytes = 2 << 20

// TestMaintenanceQuotaEtcdctl fills the store to its quota and runs the
// operator's recovery with etcdctl: NOSPACE raised (writes refused, reads
// and deletes still served), compact, defrag (the size shrinks), alarm
// disarm, writes work again; then endpoint hashkv agrees on every member,
// endpoint health is green and snapshot save writes a usable file.
func TestMaintenanceQuotaEtcdctl(t *testing.T) {
	ctx := deadline(t, 150*time.Second)
	c := cluster.Start(t, cluster.Config{Members: 3, ExtraFlags: []string{fmt.Sprintf("--quota-backend-bytes=%d", quotaBytes)}})
	cli := c.Client(t)
	ctl := etcdctl{bin: cluster.EtcdctlBinary(t), eps: c.Endpoints()}

	ctl.ok(t, ctx, "", "alarm", "list")
	val := strings.Repeat("q", 8<<10)
	full := false
	transient := 0
	for i := 0; i < 2*quotaBytes/len(val); i++ {
		_, err := cli.Put(ctx, fmt.Sprintf("quota/%05d", i), val)
		if errors.Is(err, rpctypes.ErrNoSpace) {
			full = true
			break
		}
		if err != nil {
			// A busy machine can cost the cluster its leader; a client
			// retries that, like any etcd client.
			if transient++; transient > 10 || ctx.Err() != nil {
				t.Fatalf("put %d: %v", i, err)
			}
			i--
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !full {
		t.Fatalf("wrote twice the quota without NOSPACE")
	}
	// The alarm is raised cluster-wide and keeps refusing writes.
	for {
		out := ctl.ok(t, ctx, "", "alarm", "list")
		if strings.Contains(out, "alarm:NOSPACE") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("alarm list never showed NOSPACE: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := cli.Put(ctx, "quota/small", "x"); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("small put under NOSPACE: %v", err)
	}
	if get, err := cli.Get(ctx, "quota/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || get.Count == 0 {
		t.Fatalf("read under NOSPACE: %v %v", get, err)
	}
	if out, _, err := ctl.run(ctx, "", "endpoint", "health"); err == nil && !strings.Contains(out, "NOSPACE") {
		t.Fatalf("endpoint health under NOSPACE: healthy:\n%s", out)
	}
	del, err := cli.Delete(ctx, "quota/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("delete under NOSPACE: %v", err)
	}
	if _, err := cli.Compact(ctx, del.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact under NOSPACE: %v", err)
	}
	before := dbSizes(t, ctx, cli, c)
	filesBefore := storeFileSizes(t, c)
	out := ctl.ok(t, ctx, "", "defrag")
	for _, ep := range c.Endpoints() {
		if !strings.Contains(out, "Finished defragmenting etcd member["+ep+"]") {
			t.Fatalf("defrag output lacks %s:\n%s", ep, out)
		}
	}
	after := dbSizes(t, ctx, cli, c)
	filesAfter := storeFileSizes(t, c)
	for i := range before {
		if after[i]*2 > before[i] {
			t.Fatalf("defrag: member %d dbSize %d -> %d, want it at least halved", i, before[i], after[i])
		}
		if filesAfter[i]*2 > filesBefore[i] {
			t.Fatalf("defrag: member %d store file %d -> %d bytes on disk, want it at least halved", i, filesBefore[i], filesAfter[i])
		}
	}
	// Freed space does not clear the alarm: the operator disarms it.
	if _, err := cli.Put(ctx, "quota/small", "x"); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("put after defrag, before disarm: %v", err)
	}
	out = ctl.ok(t, ctx, "", "alarm", "disarm")
	if !strings.Contains(out, "alarm:NOSPACE") {
		t.Fatalf("alarm disarm printed %q", out)
	}
	if out := ctl.ok(t, ctx, "", "alarm", "list"); strings.TrimSpace(out) != "" {
		t.Fatalf("alarm list after disarm: %q", out)
	}
	if _, err := cli.Put(ctx, "quota/small", "x"); err != nil {
		t.Fatalf("put after disarm: %v", err)
	}
	ctl.ok(t, ctx, "", "endpoint", "health")

	// Every member hashes the same history.
	for {
		hs := decodeJSON[[]struct {
			Endpoint string `json:"Endpoint"`
			HashKV   struct {
				Hash            uint32 `json:"hash"`
				CompactRevision int64  `json:"compact_revision"`
				HashRevision    int64  `json:"hash_revision"`
			} `json:"HashKV"`
		}](t, "endpoint hashkv", ctl.ok(t, ctx, "", "endpoint", "hashkv", "-w", "json"))
		if len(hs) != 3 {
			t.Fatalf("endpoint hashkv: %+v", hs)
		}
		if hs[0].HashKV == hs[1].HashKV && hs[1].HashKV == hs[2].HashKV && hs[0].HashKV.Hash != 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("endpoint hashkv never agreed: %+v", hs)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// snapshot save from one member.
	file := filepath.Join(t.TempDir(), "backup.db")
	one := etcdctl{bin: ctl.bin, eps: c.Endpoints()[:1]}
	out = one.ok(t, ctx, "", "snapshot", "save", file)
	if !strings.Contains(out, "Snapshot saved at "+file) {
		t.Fatalf("snapshot save: %s", out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() < 4096 {
		t.Fatalf("snapshot file: %v %v", fi, err)
	}
}

func dbSizes(t *testing.T, ctx context.Context, cli *clientv3.Client, c *cluster.Cluster) []int64 {
	t.Helper()
	var out []int64
	for _, ep := range c.Endpoints() {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			t.Fatalf("status %s: %v", ep, err)
		}
		out = append(out, st.DbSize)
	}
	return out
}

// storeFileSizes returns each member's backend file size on disk:
// member/snap/db for etcd, member/kv.db for Chainfire.
func storeFileSizes(t *testing.T, c *cluster.Cluster) []int64 {
	t.Helper()
	rel := filepath.Join("member", "kv.db")
	if c.Impl() == cluster.Etcd {
		rel = filepath.Join("member", "snap", "db")
	}
	var out []int64
	for _, m := range c.Members() {
		fi, err := os.Stat(filepath.Join(m.DataDir, rel))
		if err != nil {
			t.Fatalf("store file of %s: %v", m.Name, err)
		}
		out = append(out, fi.Size())
	}
	return out
}
