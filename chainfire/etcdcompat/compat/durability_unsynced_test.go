package compat

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// TestDurabilityKillBeforeApplySync checks etcd's recovery model: a write
// is acknowledged once its Raft entry is durable on a quorum and applied in
// memory, not once the store has committed it to disk. Every member runs
// with a store commit interval of an hour, so every acknowledged put exists
// only in the Raft logs when all members are SIGKILLed right after the
// last acknowledgement (the test checks each member's store file to prove
// it). After the restart each one must be back, exactly as acknowledged
// (value, revision, version 1), replayed once from the Raft log. A second
// round repeats it on top of the replayed state.
func TestDurabilityKillBeforeApplySync(t *testing.T) {
	ctx := deadline(t, 150*time.Second)
	c := cluster.Start(t, cluster.Config{Members: 3, ExtraFlags: []string{
		"--backend-batch-interval=1h", "--backend-batch-limit=100000000",
	}})
	var clis []*clientv3.Client
	for _, m := range c.Members() {
		clis = append(clis, c.Client(t, m.Endpoint()))
	}
	var acks []unsyncedAck
	for round := 1; round <= 2; round++ {
		var (
			mu  sync.Mutex
			wg  sync.WaitGroup
			top int64
		)
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cli := clis[w%len(clis)] // writes through followers are forwarded
				for i := range 40 {
					key := fmt.Sprintf("unsynced/r%d/w%d/%03d", round, w, i)
					val := fmt.Sprintf("%s=%d", key, time.Now().UnixNano())
					resp, err := cli.Put(ctx, key, val)
					if err != nil {
						t.Errorf("put %s: %v", key, err)
						return
					}
					mu.Lock()
					acks = append(acks, unsyncedAck{key, val, resp.Header.Revision})
					top = max(top, resp.Header.Revision)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		c.KillAll(t)
		if c.Impl() == cluster.Chainfire {
			for _, m := range c.Members() {
				if rev := storeFileRev(t, m); rev >= top {
					t.Fatalf("round %d: %s's store file is at revision %d, the last ack at %d: the kill came after a commit, the test proves nothing", round, m.Name, rev, top)
				}
			}
		}
		c.RestartAll(t)
		t.Logf("round %d: %d acknowledged puts up to revision %d killed before any store commit", round, len(acks), top)
		checkAcks(ctx, t, clis, acks)
	}
}

// checkAcks reads every acknowledged put back from every member
// (linearizably through the first, serializably from each once caught up).
func checkAcks(ctx context.Context, t *testing.T, clis []*clientv3.Client, acks []unsyncedAck) {
	t.Helper()
	final := must[*clientv3.GetResponse](t, "read back")(clis[0].Get(ctx, "unsynced/", clientv3.WithPrefix()))
	want := kvSignature(final.Kvs)
	got := map[string]int{}
	for i, kv := range final.Kvs {
		got[string(kv.Key)] = i
	}
	seen := map[int64]bool{}
	for _, a := range acks {
		if seen[a.rev] {
			t.Fatalf("revision %d acknowledged twice", a.rev)
		}
		seen[a.rev] = true
		i, ok := got[a.key]
		if !ok {
			t.Fatalf("acknowledged put %s at revision %d is lost", a.key, a.rev)
		}
		kv := final.Kvs[i]
		if string(kv.Value) != a.val || kv.ModRevision != a.rev || kv.CreateRevision != a.rev || kv.Version != 1 {
			t.Fatalf("acknowledged put %s=%q at %d reads back %q create %d mod %d version %d", a.key, a.val, a.rev, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version)
		}
	}
	if len(final.Kvs) != len(acks) {
		t.Fatalf("%d keys for %d acknowledged puts", len(final.Kvs), len(acks))
	}
	for i, cli := range clis {
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			resp, err := cli.Get(ctx, "unsynced/", clientv3.WithPrefix(), clientv3.WithSerializable())
			if err == nil && resp.Header.Revision >= final.Header.Revision {
				if sig := kvSignature(resp.Kvs); sig != want {
					t.Fatalf("member %d diverged after replay:\n%s\nwant\n%s", i, sig, want)
				}
				break
			}
			if time.Since(start) > 15*time.Second {
				t.Fatalf("member %d never caught up to revision %d (err %v)", i, final.Header.Revision, err)
			}
		}
	}
}

// storeFileRev reads the revision recorded in a killed Chainfire member's
// store file: what it would have without replaying its Raft log.
func storeFileRev(t *testing.T, m *cluster.Member) int64 {
	t.Helper()
	path := filepath.Join(m.DataDir, "member", "kv.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	var rev int64
	err = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("meta"))
		if b == nil {
			return nil
		}
		if v := b.Get([]byte("current_rev")); len(v) == 8 {
			rev = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return rev
}

// unsyncedAck is an acknowledged put.
type unsyncedAck struct {
	key, val string
	rev      int64
}
