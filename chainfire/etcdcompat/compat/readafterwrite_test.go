package compat

import (
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestReadAfterWrite checks linearizable reads across members: a write
// acknowledged through one member is seen at once by a (default,
// linearizable) read through another, every time.
func TestReadAfterWrite(t *testing.T) {
	ctx := deadline(t, 90*time.Second)
	c := startCluster(t)
	var clis []*clientv3.Client
	for _, m := range c.Members() {
		clis = append(clis, c.Client(t, m.Endpoint()))
	}
	const rounds = 300
	n := len(clis)
	for i := range rounds {
		w, r := clis[i%n], clis[(i+1)%n]
		// A fresh key each round, and one key overwritten every round.
		k, v := fmt.Sprintf("raw/k%04d", i), fmt.Sprintf("v%d", i)
		put := must[*clientv3.PutResponse](t, "put")(w.Put(ctx, k, v))
		txn := must[*clientv3.TxnResponse](t, "txn")(w.Txn(ctx).Then(clientv3.OpPut("raw/shared", v)).Commit())

		get := must[*clientv3.GetResponse](t, "get")(r.Get(ctx, k))
		if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != v || get.Kvs[0].ModRevision != put.Header.Revision {
			t.Fatalf("round %d: put %q=%q at %d through member %d; read through member %d got %v", i, k, v, put.Header.Revision, i%n, (i+1)%n, get.Kvs)
		}
		if get.Header.Revision < txn.Header.Revision {
			t.Fatalf("round %d: read header revision %d is older than the acknowledged write %d", i, get.Header.Revision, txn.Header.Revision)
		}
		get = must[*clientv3.GetResponse](t, "get")(clis[(i+2)%n].Get(ctx, "raw/shared"))
		if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != v || get.Kvs[0].ModRevision != txn.Header.Revision {
			t.Fatalf("round %d: overwrote raw/shared=%q at %d; read through member %d got %v", i, v, txn.Header.Revision, (i+2)%n, get.Kvs)
		}
		// A txn's reads are linearizable too.
		tr := must[*clientv3.TxnResponse](t, "read txn")(r.Txn(ctx).Then(clientv3.OpGet("raw/shared")).Commit())
		if kvs := tr.Responses[0].GetResponseRange().Kvs; len(kvs) != 1 || string(kvs[0].Value) != v {
			t.Fatalf("round %d: read-only txn through member %d got %v, want %q", i, (i+1)%n, kvs, v)
		}
	}
}
