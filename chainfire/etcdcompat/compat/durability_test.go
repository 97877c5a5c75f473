package compat

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestDurabilityKillAll checks that acknowledged writes survive SIGKILL of
// every member at once, twice, and are never applied twice.
//
// Writers put fresh keys continuously, recording every acknowledged put with
// the revision in its response header. In between, every member is killed
// at once (all SIGKILLs sent before any exit is awaited) and restarted with
// its data directory. At the end:
//   - every acknowledged key reads back with exactly the value written, and
//     create_revision = mod_revision = the acknowledged revision, version 1;
//   - no two acknowledged puts share a revision, and each writer's revisions
//     increase (each put starts after the previous one was acknowledged);
//   - every key present (acknowledged or not) holds the value its writer
//     tried, at a revision of its own;
//   - every member converges on exactly the same key-values.
func TestDurabilityKillAll(t *testing.T) {
	ctx := deadline(t, 150*time.Second)
	c := startCluster(t)
	clis := []*clientv3.Client{c.Client(t)}
	for _, m := range c.Members() {
		clis = append(clis, c.Client(t, m.Endpoint()))
	}

	type ack struct {
		key, val string
		rev      int64
	}
	const writers = 8
	var (
		mu        sync.Mutex
		acks      [writers][]ack
		attempted = map[string]string{} // every key tried -> its value
		nAcks     atomic.Int64
		nFail     atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	nonce := rand.Uint32()
	for w := range writers {
		cli := clis[w%len(clis)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("dur/w%02d/%07d", w, seq)
				val := fmt.Sprintf("w%d-s%d-%08x", w, seq, nonce)
				mu.Lock()
				attempted[key] = val
				mu.Unlock()
				rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				resp, err := cli.Put(rctx, key, val)
				cancel()
				if err != nil {
					// Not acknowledged: it may or may not have been applied.
					// Move on to a fresh key, never retry this one.
					nFail.Add(1)
					if ctx.Err() != nil {
						return
					}
					time.Sleep(50 * time.Millisecond)
					continue
				}
				mu.Lock()
				acks[w] = append(acks[w], ack{key, val, resp.Header.Revision})
				mu.Unlock()
				nAcks.Add(1)
			}
		}()
	}
	// waitAcks lets the writers run for d and fails unless they get at
	// least min more acknowledgements meanwhile.
	waitAcks := func(phase string, d time.Duration, min int64) {
		t.Helper()
		start := nAcks.Load()
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) || nAcks.Load()-start < min {
			if ctx.Err() != nil {
				t.Fatalf("%s: only %d acknowledged writes before the deadline", phase, nAcks.Load()-start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%s: %d acknowledged writes (%d failed attempts so far)", phase, nAcks.Load()-start, nFail.Load())
	}

	waitAcks("before the first crash", 2*time.Second, 50)
	for round := 1; round <= 2; round++ {
		killed := time.Now()
		c.KillAll(t)
		c.RestartAll(t)
		t.Logf("crash %d: every member killed and ready again in %v", round, time.Since(killed).Round(time.Millisecond))
		waitAcks(fmt.Sprintf("after crash %d", round), 2*time.Second, 50)
	}
	close(stop)
	wg.Wait()

	// Acknowledged revisions: unique, and increasing per writer.
	byRev := map[int64]string{}
	total := 0
	for w := range writers {
		for i, a := range acks[w] {
			total++
			if other, dup := byRev[a.rev]; dup {
				t.Fatalf("revision %d acknowledged for both %s and %s", a.rev, other, a.key)
			}
			byRev[a.rev] = a.key
			if i > 0 && a.rev <= acks[w][i-1].rev {
				t.Fatalf("writer %d: %s acknowledged at revision %d after %s at %d", w, a.key, a.rev, acks[w][i-1].key, acks[w][i-1].rev)
			}
		}
	}

	// Every acknowledged write is there, exactly as acknowledged.
	final := must[*clientv3.GetResponse](t, "final read")(clis[0].Get(ctx, "dur/", clientv3.WithPrefix()))
	got := map[string]*mvccpb.KeyValue{}
	mods := map[int64]string{}
	for _, kv := range final.Kvs {
		got[string(kv.Key)] = kv
		if other, dup := mods[kv.ModRevision]; dup {
			t.Fatalf("keys %s and %s share mod_revision %d", other, kv.Key, kv.ModRevision)
		}
		mods[kv.ModRevision] = string(kv.Key)
		if want, ok := attempted[string(kv.Key)]; !ok || string(kv.Value) != want {
			t.Fatalf("key %s holds %q; its writer tried %q", kv.Key, kv.Value, want)
		}
		if kv.Version != 1 || kv.CreateRevision != kv.ModRevision {
			t.Fatalf("key %s written once has version %d create %d mod %d", kv.Key, kv.Version, kv.CreateRevision, kv.ModRevision)
		}
	}
	lost := 0
	for w := range writers {
		for _, a := range acks[w] {
			kv, ok := got[a.key]
			switch {
			case !ok:
				lost++
				t.Errorf("acknowledged put %s at revision %d is lost", a.key, a.rev)
			case string(kv.Value) != a.val || kv.ModRevision != a.rev:
				t.Errorf("acknowledged put %s=%q at revision %d reads back %q at revision %d", a.key, a.val, a.rev, kv.Value, kv.ModRevision)
			}
			if lost > 20 {
				t.Fatalf("too many lost writes")
			}
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("%d acknowledged puts all durable; %d keys present (%d applied without an acknowledgement); %d failed attempts; final revision %d",
		total, len(final.Kvs), len(final.Kvs)-total, nFail.Load(), final.Header.Revision)

	// Every member converges on the same key-values (serializable reads are
	// served from each member's own store).
	want := kvSignature(final.Kvs)
	for i, m := range c.Members() {
		for start := time.Now(); ; {
			// A member still catching up answers ErrFutureRev for now.
			resp, err := clis[i+1].Get(ctx, "dur/", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithRev(final.Header.Revision))
			if err == nil && kvSignature(resp.Kvs) == want {
				break
			}
			if err != nil && !errors.Is(err, rpctypes.ErrFutureRev) {
				t.Fatalf("serializable read on %s: %v", m.Name, err)
			}
			if time.Since(start) > 15*time.Second {
				n := -1
				if resp != nil {
					n = len(resp.Kvs)
				}
				t.Fatalf("member %s never converged at revision %d: %d keys (err %v), want the %d keys read linearizably", m.Name, final.Header.Revision, n, err, len(final.Kvs))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// kvSignature is a canonical text of key-values, for comparing replicas.
func kvSignature(kvs []*mvccpb.KeyValue) string {
	lines := make([]string, len(kvs))
	for i, kv := range kvs {
		lines[i] = fmt.Sprintf("%q=%q c%d m%d v%d l%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
	}
	sort.Strings(lines)
	return fmt.Sprint(lines)
}
