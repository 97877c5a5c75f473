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

// regionIDs is the set of regions a store hosts.
func regionIDs(st *store.Store) map[uint64]bool {
	out := map[uint64]bool{}
	for _, p := range st.Peers() {
		out[p.ID()] = true
	}
	return out
}

// TestSplitUnderLoad lets the split checker cut the key space while
// writers run, then checks that every store hosts every region, every
// acknowledged key is readable through routing, ranges tile the key space,
// PD heard of the splits, and a request with the parent's old epoch is
// told about the new regions.
func TestSplitUnderLoad(t *testing.T) {
	c := newCluster(t, 3, store.Config{SplitKeys: 150, SplitSize: 1 << 30, SplitCheckInterval: 100 * time.Millisecond,
		RegionHeartbeatInterval: 200 * time.Millisecond, HeartbeatInterval: 200 * time.Millisecond}, true)
	_, first := c.leaderForWait(t, key(0))

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
			for i := w; !stop.Load(); i += 4 {
				k, v := key(i%2000), val(i)
				if err := c.put(k, v); err == nil {
					mu.Lock()
					acked[string(k)] = v
					mu.Unlock()
				}
			}
		}()
	}
	waitFor(t, "at least 4 regions", func() bool { return len(regionIDs(c.list()[0].st)) >= 4 })
	stop.Store(true)
	wg.Wait()

	want := regionIDs(c.list()[0].st)
	for _, nd := range c.list()[1:] {
		waitFor(t, "every store hosts every region", func() bool {
			got := regionIDs(nd.st)
			for id := range want {
				if !got[id] {
					return false
				}
			}
			return true
		})
	}
	checkTiling(t, c.list()[0].st)
	for k, v := range acked {
		c.mustGet(t, []byte(k), v)
	}
	c.pd.mu.Lock()
	reported := len(c.pd.splits)
	c.pd.mu.Unlock()
	if reported < 3 {
		t.Fatalf("PD heard of %d splits, want at least 3", reported)
	}

	// The original epoch is stale now: the store answers EpochNotMatch
	// with the regions it knows around the old one.
	nd, _ := c.leaderForWait(t, key(1999))
	resp, err := nd.kv.Get(context.Background(), connect.NewRequest(&flaredbv1.GetRequest{Context: rctx(first), Key: key(1999)}))
	if err != nil {
		t.Fatal(err)
	}
	enm := resp.Msg.GetRegionError().GetEpochNotMatch()
	if enm == nil || len(enm.GetCurrentRegions()) < 2 {
		t.Fatalf("stale epoch: got %v, want EpochNotMatch with the parent and a sibling", resp.Msg.GetRegionError())
	}
}

func (c *cluster) leaderForWait(t testing.TB, k []byte) (*node, *flaredbv1.Region) {
	t.Helper()
	var nd *node
	var r *flaredbv1.Region
	waitFor(t, "a leader", func() bool { nd, r = c.leaderFor(k); return nd != nil })
	return nd, r
}

// checkTiling asserts the store's regions cover the key space exactly once.
func checkTiling(t *testing.T, st *store.Store) {
	t.Helper()
	var regions []*flaredbv1.Region
	for _, p := range st.Peers() {
		regions = append(regions, p.Region())
	}
	next := []byte{}
	for range regions {
		var found *flaredbv1.Region
		for _, r := range regions {
			if bytes.Equal(r.GetStartKey(), next) {
				found = r
			}
		}
		if found == nil {
			t.Fatalf("no region starts at %q: gap", next)
		}
		if len(found.GetEndKey()) == 0 {
			return
		}
		next = found.GetEndKey()
	}
	t.Fatalf("regions do not reach the end of the key space")
}

// TestStaleEpochAndKeyOutsideRegionRejected splits by hand and checks the
// typed errors, on reads and on writes, and that the rejected write wrote
// nothing.
func TestStaleEpochAndKeyOutsideRegionRejected(t *testing.T) {
	c := newCluster(t, 3, store.Config{}, true)
	if err := c.put([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	nd, parent := c.leaderForWait(t, []byte("a"))
	split, err := nd.admin.SplitRegion(context.Background(), connect.NewRequest(&flaredbv1.SplitRegionRequest{RegionId: parent.GetId(), SplitKey: []byte("m")}))
	if err != nil {
		t.Fatal(err)
	}
	left, right := split.Msg.GetLeft(), split.Msg.GetRight()
	if !bytes.Equal(left.GetEndKey(), []byte("m")) || !bytes.Equal(right.GetStartKey(), []byte("m")) || right.GetId() != parent.GetId() {
		t.Fatalf("split gave left %v right %v", left, right)
	}
	if right.GetEpoch().GetVersion() != parent.GetEpoch().GetVersion()+1 {
		t.Fatalf("parent version %d after split, want %d", right.GetEpoch().GetVersion(), parent.GetEpoch().GetVersion()+1)
	}

	// Stale epoch on a write: rejected with the current regions, nothing written.
	nd, _ = c.leaderForWait(t, []byte("z"))
	put, err := nd.kv.Put(context.Background(), connect.NewRequest(&flaredbv1.PutRequest{Context: rctx(parent), Key: []byte("z"), Value: []byte("stale")}))
	if err != nil {
		t.Fatal(err)
	}
	if put.Msg.GetRegionError().GetEpochNotMatch() == nil {
		t.Fatalf("stale write: %v", put.Msg.GetRegionError())
	}
	if _, found, _ := c.get([]byte("z")); found {
		t.Fatal("a write with a stale epoch was applied")
	}

	// Key outside the (current) region.
	put, err = nd.kv.Put(context.Background(), connect.NewRequest(&flaredbv1.PutRequest{Context: rctx(right), Key: []byte("b"), Value: []byte("x")}))
	if err != nil {
		t.Fatal(err)
	}
	kn := put.Msg.GetRegionError().GetKeyNotInRegion()
	if kn == nil || kn.GetRegionId() != right.GetId() {
		t.Fatalf("key outside region: %v", put.Msg.GetRegionError())
	}
	get, err := nd.kv.Get(context.Background(), connect.NewRequest(&flaredbv1.GetRequest{Context: rctx(right), Key: []byte("b")}))
	if err != nil || get.Msg.GetRegionError().GetKeyNotInRegion() == nil {
		t.Fatalf("read outside region: %v %v", err, get.Msg.GetRegionError())
	}
	c.mustGet(t, []byte("a"), []byte("1"))

	// Unknown region, and a follower.
	get, err = nd.kv.Get(context.Background(), connect.NewRequest(&flaredbv1.GetRequest{Context: &flaredbv1.Context{RegionId: 999, RegionEpoch: right.GetEpoch()}, Key: []byte("q")}))
	if err != nil || get.Msg.GetRegionError().GetRegionNotFound() == nil {
		t.Fatalf("unknown region: %v %v", err, get.Msg.GetRegionError())
	}
	for _, other := range c.list() {
		if other.id == nd.id {
			continue
		}
		waitFor(t, "follower knows the split", func() bool {
			p := other.st.Peer(right.GetId())
			return p != nil && p.Region().GetEpoch().GetVersion() == right.GetEpoch().GetVersion()
		})
		get, err = other.kv.Get(context.Background(), connect.NewRequest(&flaredbv1.GetRequest{Context: rctx(right), Key: []byte("q")}))
		if err != nil {
			t.Fatal(err)
		}
		nl := get.Msg.GetRegionError().GetNotLeader()
		if nl == nil || nl.GetLeader().GetStoreId() != nd.id {
			t.Fatalf("follower answered %v, want NotLeader naming store %d", get.Msg.GetRegionError(), nd.id)
		}
	}
}
