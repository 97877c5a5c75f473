package compat

import (
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestCompaction covers Compact: reads below the compaction revision fail
// with ErrCompacted, the compaction revision itself stays readable, the
// latest state (with each key's create revision and version) is untouched,
// and compacting again, into the past or into the future fails.
func TestCompaction(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	follower := c.Client(t, c.Member(c.Follower(t, cli)).Endpoint())
	p := "compact/"

	// A key created, then deleted, before the compaction point.
	tomb := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+"gone", "x")).Header.Revision
	must[*clientv3.DeleteResponse](t, "delete")(cli.Delete(ctx, p+"gone"))
	var revs []int64 // revs[i] wrote value i+1 to p+"k"
	for i := range 5 {
		put := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+"k", string(rune('1'+i))))
		revs = append(revs, put.Header.Revision)
	}
	last := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+"other", "o")).Header.Revision
	k := p + "k"

	// Before compaction, every revision reads.
	get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, k, clientv3.WithRev(revs[0])))
	wantKV(t, "before compaction, at the first revision", get.Kvs[0], k, "1", revs[0], revs[0], 1, 0)

	// Compact at revs[2]: it does not write, and its header has the current
	// revision.
	cr := must[*clientv3.CompactResponse](t, "compact")(cli.Compact(ctx, revs[2]))
	if cr.Header.Revision != last {
		t.Fatalf("compact: header revision %d, want the current %d", cr.Header.Revision, last)
	}
	wantRev(t, ctx, cli, "compaction does not write", last)

	for _, cl := range []struct {
		name string
		cli  *clientv3.Client
	}{{"all-members", cli}, {"follower", follower}} {
		t.Run(cl.name, func(t *testing.T) {
			for _, r := range []int64{revs[0], revs[1], tomb} {
				// A linearizable read waits until its member has applied
				// the compaction.
				_, err := cl.cli.Get(ctx, k, clientv3.WithRev(r))
				wantErr(t, "get below the compaction revision", err, rpctypes.ErrCompacted)
				// A serializable one may reach a member that has not applied
				// it yet, but every member gets there.
				for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
					_, err = cl.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithRev(r), clientv3.WithSerializable())
					if err != nil || time.Since(start) > 10*time.Second {
						break
					}
				}
				wantErr(t, "serializable prefix get below the compaction revision", err, rpctypes.ErrCompacted)
			}
			_, err := cl.cli.Txn(ctx).Then(clientv3.OpGet(k, clientv3.WithRev(revs[1]))).Commit()
			wantErr(t, "txn get below the compaction revision", err, rpctypes.ErrCompacted)

			// The compaction revision itself, and everything later, still reads.
			get := must[*clientv3.GetResponse](t, "get")(cl.cli.Get(ctx, k, clientv3.WithRev(revs[2])))
			wantKV(t, "at the compaction revision", get.Kvs[0], k, "3", revs[0], revs[2], 3, 0)
			get = must[*clientv3.GetResponse](t, "get")(cl.cli.Get(ctx, k, clientv3.WithRev(revs[3])))
			wantKV(t, "after the compaction revision", get.Kvs[0], k, "4", revs[0], revs[3], 4, 0)
			// The latest state keeps each key's create revision and version.
			get = must[*clientv3.GetResponse](t, "get")(cl.cli.Get(ctx, k))
			wantKV(t, "latest", get.Kvs[0], k, "5", revs[0], revs[4], 5, 0)
			get = must[*clientv3.GetResponse](t, "get")(cl.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithRev(revs[4])))
			wantKeys(t, "prefix at a revision after the compaction", get.Kvs, k)
			get = must[*clientv3.GetResponse](t, "get")(cl.cli.Get(ctx, p, clientv3.WithPrefix()))
			wantKeys(t, "latest prefix (the deleted key stays deleted)", get.Kvs, k, p+"other")
		})
	}

	_, err := cli.Compact(ctx, revs[2])
	wantErr(t, "compact at the compaction revision again", err, rpctypes.ErrCompacted)
	_, err = cli.Compact(ctx, revs[1])
	wantErr(t, "compact below the compaction revision", err, rpctypes.ErrCompacted)
	_, err = cli.Compact(ctx, 0)
	wantErr(t, "compact at revision 0", err, rpctypes.ErrCompacted)
	_, err = cli.Compact(ctx, last+1)
	wantErr(t, "compact at the next revision", err, rpctypes.ErrFutureRev)
	_, err = cli.Compact(ctx, last+1000)
	wantErr(t, "compact at a future revision", err, rpctypes.ErrFutureRev)

	// A physical compaction at the current revision: the call returns once
	// the compacted data is gone; afterwards only the current revision reads.
	cr = must[*clientv3.CompactResponse](t, "physical compact")(cli.Compact(ctx, last, clientv3.WithCompactPhysical()))
	if cr.Header.Revision != last {
		t.Fatalf("physical compact: header revision %d, want %d", cr.Header.Revision, last)
	}
	_, err = cli.Get(ctx, k, clientv3.WithRev(revs[4]))
	wantErr(t, "get below the physical compaction revision", err, rpctypes.ErrCompacted)
	get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, k, clientv3.WithRev(last)))
	wantKV(t, "at the physical compaction revision", get.Kvs[0], k, "5", revs[0], revs[4], 5, 0)

	// Writes go on after compaction: the key keeps its history counters.
	put := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "6"))
	if put.Header.Revision != last+1 {
		t.Fatalf("put after compaction: revision %d, want %d", put.Header.Revision, last+1)
	}
	get = must[*clientv3.GetResponse](t, "get")(follower.Get(ctx, k))
	wantKV(t, "after compaction", get.Kvs[0], k, "6", revs[0], last+1, 6, 0)
}
