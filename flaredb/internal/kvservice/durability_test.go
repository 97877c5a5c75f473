package kvservice

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/internal/store"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// TestRestartAllLosesNoAcknowledgedWrite stops every store while writers
// are running, restarts them all on the same data, and checks that every
// acknowledged write is there, that raft re-delivered already-applied
// entries and the replicas skipped them, and that CAS counters (which a
// double apply would break) hold exactly their acknowledged increments.
func TestRestartAllLosesNoAcknowledgedWrite(t *testing.T) {
	c := newCluster(t, 3, store.Config{}, true)
	var (
		mu    sync.Mutex
		acked = map[string][]byte{}
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				k, v := key(w*100000+i), val(i)
				if err := c.putOnce(k, v); err == nil {
					mu.Lock()
					acked[string(k)] = v
					mu.Unlock()
				}
			}
		}()
	}
	counter := []byte("counter")
	if err := c.put(counter, []byte{0}); err != nil {
		t.Fatal(err)
	}
	increments := 0
	for increments < 20 {
		if c.casIncrement(t, counter) {
			increments++
		}
	}
	waitFor(t, "some acknowledged writes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > 100
	})
	for _, nd := range c.list() {
		c.stop(nd.id)
	}
	stop.Store(true)
	wg.Wait()

	for _, nd := range c.list() {
		c.start(nd)
	}
	for k, v := range acked {
		c.mustGet(t, []byte(k), v)
	}
	c.mustGet(t, counter, []byte{byte(increments)})
	waitFor(t, "replayed entries skipped on every store", func() bool {
		for _, nd := range c.list() {
			var n uint64
			for _, p := range nd.st.Peers() {
				n += p.Replayed()
			}
			if n == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("%d acknowledged writes survived a restart of every store", len(acked))
}

// putOnce tries one put at the current leader without retrying.
func (c *cluster) putOnce(k, v []byte) error {
	nd, r := c.leaderFor(k)
	if nd == nil {
		return errRetry
	}
	c.mu.Lock()
	kv := nd.kv
	c.mu.Unlock()
	if kv == nil {
		return errRetry
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := kv.Put(ctx, connect.NewRequest(&flaredbv1.PutRequest{Context: rctx(r), Key: k, Value: v}))
	if err != nil {
		return err
	}
	if resp.Msg.GetRegionError() != nil {
		return errRetry
	}
	return nil
}

// casIncrement adds one to a one-byte counter with CompareAndSwap and
// reports whether it succeeded.
func (c *cluster) casIncrement(t *testing.T, k []byte) bool {
	t.Helper()
	cur, _, err := c.get(k)
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	err = c.do(k, func(kv *KV, rc *flaredbv1.Context) error {
		resp, err := kv.CompareAndSwap(context.Background(), connect.NewRequest(&flaredbv1.CompareAndSwapRequest{
			Context: rc, Key: k, PreviousValue: cur, Value: []byte{cur[0] + 1},
		}))
		if err != nil {
			return err
		}
		if resp.Msg.GetRegionError() != nil {
			return errRetry
		}
		ok = resp.Msg.GetSucceeded()
		if !ok && !bytes.Equal(resp.Msg.GetPreviousValue(), cur) {
			return nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}
