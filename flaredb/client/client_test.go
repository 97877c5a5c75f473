package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/client/clienttest"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

var ctx = context.Background()

func newFake(t *testing.T, stores int) *clienttest.Cluster { return clienttest.NewCluster(t, stores) }

func newTestClient(t *testing.T, f *clienttest.Cluster, opts ...Option) *Client {
	t.Helper()
	c, err := New([]string{f.PDURL()}, append([]Option{WithBackoff(time.Millisecond, 20*time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func keyf(i int) []byte { return []byte(fmt.Sprintf("k%04d", i)) }

func keysOf(kvs []KV) string {
	var b strings.Builder
	for _, kv := range kvs {
		b.Write(kv.Key)
		b.WriteByte(' ')
	}
	return b.String()
}

func mustPut(t *testing.T, c *Client, k, v string) {
	t.Helper()
	if err := c.Put(ctx, []byte(k), []byte(v)); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

func mustGet(t *testing.T, c *Client, k, want string) {
	t.Helper()
	v, ok, err := c.Get(ctx, []byte(k))
	if err != nil || !ok || string(v) != want {
		t.Fatalf("Get(%q) = %q, %v, %v; want %q", k, v, ok, err, want)
	}
}

// TestNotLeaderHintUpdatesCache: a stale leader answers NotLeader with a
// hint; the client switches to the hinted leader without asking PD, and
// later requests go straight there.
func TestNotLeaderHintUpdatesCache(t *testing.T) {
	f := newFake(t, 3)
	c := newTestClient(t, f)
	mustPut(t, c, "a", "1")
	f.SetLeader("a", 2)
	mustGet(t, c, "a", "1")
	if got := f.PDRegionCalls(); got != 1 {
		t.Fatalf("PD GetRegion calls = %d, want 1 (the hint is enough)", got)
	}
	if got := c.cache.lookup([]byte("a")).leader.GetStoreId(); got != 2 {
		t.Fatalf("cached leader on store %d, want 2", got)
	}
	before := f.StoreCalls(1)
	mustGet(t, c, "a", "1")
	if f.StoreCalls(1) != before {
		t.Fatal("request went to the old leader again")
	}
}

// TestNotLeaderOnNewPeerRefreshesRegion: the leader moved to a peer added
// after the client cached the region. A membership change leaves the
// version alone, so only the unknown hint tells; the client asks PD for
// the new peer list.
func TestNotLeaderOnNewPeerRefreshesRegion(t *testing.T) {
	f := newFake(t, 4)
	f.RemovePeer("a", 4)
	c := newTestClient(t, f)
	mustPut(t, c, "a", "1")
	f.AddPeer("a", 4)
	f.SetLeader("a", 4)
	mustGet(t, c, "a", "1")
	if got := c.cache.lookup([]byte("a")).leader.GetStoreId(); got != 4 {
		t.Fatalf("cached leader on store %d, want 4", got)
	}
	if got := f.PDRegionCalls(); got != 2 {
		t.Fatalf("PD GetRegion calls = %d, want 2", got)
	}
}

// TestNotLeaderWithoutHintTriesNextPeer: during an election stores know no
// leader; the client walks the region's peers.
func TestNotLeaderWithoutHintTriesNextPeer(t *testing.T) {
	f := newFake(t, 3)
	c := newTestClient(t, f)
	mustPut(t, c, "a", "1")
	f.SetLeader("a", 3)
	f.InjectError(1, &flaredbv1.RegionError{Error: &flaredbv1.RegionError_NotLeader{NotLeader: &flaredbv1.NotLeader{RegionId: 1}}})
	mustGet(t, c, "a", "1")
	if got := c.cache.lookup([]byte("a")).leader.GetStoreId(); got != 3 {
		t.Fatalf("cached leader on store %d, want 3", got)
	}
	if got := f.PDRegionCalls(); got != 1 {
		t.Fatalf("PD GetRegion calls = %d, want 1", got)
	}
}

// TestEpochNotMatchReplacesCache: after splits the store's EpochNotMatch
// carries the current regions; they replace the stale entry directly.
func TestEpochNotMatchReplacesCache(t *testing.T) {
	f := newFake(t, 3)
	c := newTestClient(t, f)
	mustPut(t, c, "m", "1")
	f.Split("g")
	f.Split("t")
	mustPut(t, c, "a", "2")
	mustPut(t, c, "z", "3")
	mustGet(t, c, "m", "1")
	if got := f.PDRegionCalls(); got != 1 {
		t.Fatalf("PD GetRegion calls = %d, want 1 (EpochNotMatch brought the new regions)", got)
	}
	if got := c.cache.len(); got != 3 {
		t.Fatalf("cache holds %d regions, want 3", got)
	}
	for key, start := range map[string]string{"a": "", "m": "g", "z": "t"} {
		if got := string(c.cache.lookup([]byte(key)).region.GetStartKey()); got != start {
			t.Errorf("cache: key %q in region starting %q, want %q", key, got, start)
		}
	}
}

// TestRegionNotFoundAsksPD: the store no longer hosts the region; the
// client drops the entry and asks PD again.
func TestRegionNotFoundAsksPD(t *testing.T) {
	f := newFake(t, 3)
	c := newTestClient(t, f)
	mustPut(t, c, "a", "1")
	f.InjectError(1, &flaredbv1.RegionError{Error: &flaredbv1.RegionError_RegionNotFound{RegionNotFound: &flaredbv1.RegionNotFound{RegionId: 1}}})
	mustGet(t, c, "a", "1")
	if got := f.PDRegionCalls(); got != 2 {
		t.Fatalf("PD GetRegion calls = %d, want 2", got)
	}
}

// TestKeyNotInRegionAsksPD: the entry is dropped and PD asked again.
func TestKeyNotInRegionAsksPD(t *testing.T) {
	f := newFake(t, 3)
	c := newTestClient(t, f)
	mustPut(t, c, "a", "1")
	f.InjectError(1, &flaredbv1.RegionError{Error: &flaredbv1.RegionError_KeyNotInRegion{KeyNotInRegion: &flaredbv1.KeyNotInRegion{Key: []byte("a"), RegionId: 1}}})
	mustGet(t, c, "a", "1")
	if got := f.PDRegionCalls(); got != 2 {
		t.Fatalf("PD GetRegion calls = %d, want 2", got)
	}
}

// TestServerBusyBacksOff: the client waits at least what the store asked.
func TestServerBusyBacksOff(t *testing.T) {
	f := newFake(t, 1)
	c := newTestClient(t, f)
	mustPut(t, c, "a", "1")
	busy := &flaredbv1.RegionError{Error: &flaredbv1.RegionError_ServerIsBusy{ServerIsBusy: &flaredbv1.ServerIsBusy{Reason: "test", BackoffMs: 150}}}
	f.InjectError(1, busy)
	f.InjectError(1, busy)
	start := time.Now()
	mustGet(t, c, "a", "1")
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("two busy answers took %v, want at least 300ms of backoff", d)
	}
	if got := f.PDRegionCalls(); got != 1 {
		t.Fatalf("PD GetRegion calls = %d, want 1 (busy keeps the cache)", got)
	}
}

// TestRetriesStopAtDeadline: a store that stays busy makes the call fail
// once the caller's deadline passes, not retry forever.
func TestRetriesStopAtDeadline(t *testing.T) {
	f := newFake(t, 1)
	c := newTestClient(t, f)
	for range 1000 {
		f.InjectError(1, &flaredbv1.RegionError{Error: &flaredbv1.RegionError_ServerIsBusy{ServerIsBusy: &flaredbv1.ServerIsBusy{BackoffMs: 10}}})
	}
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Put(dctx, []byte("a"), []byte("1"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put against a busy store = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v, want soon after the 200ms deadline", d)
	}
	// Without a deadline, the retry budget applies.
	c2 := newTestClient(t, f, WithRetryBudget(200*time.Millisecond))
	if err := c2.Put(ctx, []byte("a"), []byte("1")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put with a 200ms budget = %v, want deadline exceeded", err)
	}
}

// TestUnreachableStoreTriesOtherPeers: the cached leader's store is down;
// the client moves on to the region's other peers.
func TestUnreachableStoreTriesOtherPeers(t *testing.T) {
	f := newFake(t, 3)
	c := newTestClient(t, f)
	mustPut(t, c, "a", "1")
	f.StopStore(1)
	f.SetLeader("a", 2)
	mustGet(t, c, "a", "1")
	// A CAS against a dead store was certainly not sent: it is retried too.
	f.SetLeader("a", 3)
	c2 := newTestClient(t, f)
	c2.cache.insert(f.Regions()[0], f.Regions()[0].GetPeers()[0]) // leader guess: dead store 1
	res, err := c2.CompareAndSwap(ctx, CAS{Key: []byte("a"), Previous: []byte("1"), Value: []byte("2")})
	if err != nil || !res.Succeeded {
		t.Fatalf("CAS via a dead store = %+v, %v; want success on another peer", res, err)
	}
}

func TestInvalidInputFailsFast(t *testing.T) {
	f := newFake(t, 1)
	c := newTestClient(t, f)
	checks := map[string]error{
		"empty key put":      c.Put(ctx, nil, []byte("v")),
		"empty key in batch": c.BatchPut(ctx, []KV{{Key: []byte("a")}, {Key: nil}}),
	}
	_, err := c.Scan(ctx, []byte("b"), []byte("a"), 0)
	checks["scan start > end"] = err
	checks["delete range start > end"] = c.DeleteRange(ctx, []byte("b"), []byte("a"))
	for name, err := range checks {
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	if got := f.StoreCalls(1); got != 0 {
		t.Fatalf("invalid input reached the store %d times", got)
	}
}

func TestCompareAndSwap(t *testing.T) {
	f := newFake(t, 1)
	c := newTestClient(t, f)
	k := []byte("reg")
	res, err := c.CompareAndSwap(ctx, CAS{Key: k, PreviousNotExists: true, Value: []byte("1")})
	if err != nil || !res.Succeeded || res.PreviousExists {
		t.Fatalf("create = %+v, %v", res, err)
	}
	res, err = c.CompareAndSwap(ctx, CAS{Key: k, Previous: []byte("0"), Value: []byte("2")})
	if err != nil || res.Succeeded || string(res.Previous) != "1" || !res.PreviousExists {
		t.Fatalf("mismatch = %+v, %v; want failure showing 1", res, err)
	}
	res, err = c.CompareAndSwap(ctx, CAS{Key: k, Previous: []byte("1"), Value: []byte("2")})
	if err != nil || !res.Succeeded {
		t.Fatalf("swap = %+v, %v", res, err)
	}
	mustGet(t, c, "reg", "2")
}

// TestBatchSplitsPerRegion: keys spread over several regions go out as
// one request per region (each request's keys inside its region — the
// fake fails the test otherwise) and come back in the caller's order.
func TestBatchSplitsPerRegion(t *testing.T) {
	f := newFake(t, 3)
	for _, k := range []string{"k0025", "k0050", "k0075"} {
		f.Split(k)
	}
	c := newTestClient(t, f)
	var pairs []KV
	for _, i := range rand.Perm(100) {
		pairs = append(pairs, KV{Key: keyf(i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := c.BatchPut(ctx, pairs); err != nil {
		t.Fatal(err)
	}
	puts := len(f.BatchRequests())
	if puts != 4 {
		t.Fatalf("BatchPut over 4 regions sent %d batch requests, want 4", puts)
	}
	// Ask in a shuffled order with missing keys mixed in.
	var keys [][]byte
	for _, i := range rand.Perm(120) {
		keys = append(keys, keyf(i))
	}
	got, err := c.BatchGet(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	var want []KV
	for _, k := range keys {
		var i int
		fmt.Sscanf(string(k), "k%d", &i)
		if i < 100 {
			want = append(want, KV{Key: k, Value: fmt.Appendf(nil, "v%d", i)})
		}
	}
	if keysOf(got) != keysOf(want) {
		t.Fatalf("BatchGet order:\n got %s\nwant %s", keysOf(got), keysOf(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Value, want[i].Value) {
			t.Fatalf("BatchGet %q = %q, want %q", got[i].Key, got[i].Value, want[i].Value)
		}
	}
	// Small chunks, and splits the client has not seen yet: still exact.
	f.Split("k0010")
	f.Split("k0090")
	c2 := newTestClient(t, f, WithBatchSize(7))
	c2.cache.insert(f.Regions()[0], nil) // stale map: will hit EpochNotMatch
	if err := c2.BatchDelete(ctx, keys[:60]); err != nil {
		t.Fatal(err)
	}
	left, err := c2.BatchGet(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 100-countBelow(keys[:60], 100) {
		t.Fatalf("after deleting, %d keys left, want %d", len(left), 100-countBelow(keys[:60], 100))
	}
}

func countBelow(keys [][]byte, n int) int {
	c := 0
	for _, k := range keys {
		var i int
		fmt.Sscanf(string(k), "k%d", &i)
		if i < n {
			c++
		}
	}
	return c
}

// TestScanAcrossRegions compares forward, reverse, limited and keys-only
// scans over many regions against a sorted model, including while the
// client's cache is stale after further splits.
func TestScanAcrossRegions(t *testing.T) {
	f := newFake(t, 3)
	c := newTestClient(t, f)
	const n = 300
	var all []string
	var pairs []KV
	for i := range n {
		pairs = append(pairs, KV{Key: keyf(i), Value: keyf(i)})
		all = append(all, string(keyf(i)))
	}
	if err := c.BatchPut(ctx, pairs); err != nil {
		t.Fatal(err)
	}
	for i := 20; i < n; i += 37 {
		f.Split(string(keyf(i)))         // on a key
		f.Split(string(keyf(i+9)) + "~") // between keys
	}
	check := func(t *testing.T, start, end string, limit int, reverse bool) {
		t.Helper()
		var want []string
		for _, k := range all {
			if k >= start && (end == "" || k < end) {
				want = append(want, k)
			}
		}
		if reverse {
			sort.Sort(sort.Reverse(sort.StringSlice(want)))
		}
		if limit > 0 && len(want) > limit {
			want = want[:limit]
		}
		var opts []ScanOption
		if reverse {
			opts = append(opts, Reverse())
		}
		got, err := c.Scan(ctx, []byte(start), []byte(end), limit, opts...)
		if err != nil {
			t.Fatalf("Scan(%q, %q, %d, reverse=%v): %v", start, end, limit, reverse, err)
		}
		if len(got) != len(want) {
			t.Fatalf("Scan(%q, %q, %d, reverse=%v) = %d keys, want %d", start, end, limit, reverse, len(got), len(want))
		}
		for i := range got {
			if string(got[i].Key) != want[i] || string(got[i].Value) != want[i] {
				t.Fatalf("Scan(%q, %q, %d, reverse=%v)[%d] = %q, want %q", start, end, limit, reverse, i, got[i].Key, want[i])
			}
		}
	}
	for _, reverse := range []bool{false, true} {
		check(t, "", "", 0, reverse)
		check(t, "k0019", "k0200", 0, reverse)
		check(t, "k0020", "k0057", 0, reverse)  // exactly region boundaries
		check(t, "k0100", "", 50, reverse)      // limit across regions
		check(t, "", "k0021", 1, reverse)       // limit 1 at an edge
		check(t, "k0500", "", 0, reverse)       // past every key
		check(t, "k0030", "k00300", 0, reverse) // inside one region
	}
	// Splits the cache has not seen: still no gap or duplicate.
	for i := 5; i < n; i += 11 {
		f.Split(string(keyf(i)) + "~")
	}
	check(t, "", "", 0, false)
	check(t, "", "", 0, true)

	got, err := c.Scan(ctx, nil, nil, 10, KeysOnly())
	if err != nil || len(got) != 10 || got[0].Value != nil {
		t.Fatalf("keys-only scan = %v, %v", got, err)
	}
	if err := c.DeleteRange(ctx, keyf(10), keyf(250)); err != nil {
		t.Fatal(err)
	}
	left, err := c.Scan(ctx, nil, nil, 0)
	if err != nil || len(left) != n-240 {
		t.Fatalf("after DeleteRange %d keys left (%v), want %d", len(left), err, n-240)
	}
}

// TestBatchKeepsRequestsSmall: large values are spread over several
// requests of at most 1 MiB each, so the store's request limit is never
// hit by a batch the caller could not split themselves.
func TestBatchKeepsRequestsSmall(t *testing.T) {
	f := newFake(t, 1)
	c := newTestClient(t, f)
	var pairs []KV
	for i := range 5 {
		pairs = append(pairs, KV{Key: keyf(i), Value: bytes.Repeat([]byte{'x'}, 300<<10)})
	}
	if err := c.BatchPut(ctx, pairs); err != nil {
		t.Fatal(err)
	}
	reqs := f.BatchRequests() // sent concurrently: any order
	if len(reqs) != 2 || len(reqs[0])+len(reqs[1]) != 5 || max(len(reqs[0]), len(reqs[1])) != 3 {
		t.Fatalf("5 values of 300 KiB went out as %v, want requests of 3 and 2 keys", reqs)
	}
	got, err := c.BatchGet(ctx, [][]byte{keyf(0), keyf(4)})
	if err != nil || len(got) != 2 || len(got[1].Value) != 300<<10 {
		t.Fatalf("BatchGet = %d pairs, %v", len(got), err)
	}
}

// TestPDFailover: the first PD endpoint is down; lookups use the next.
func TestPDFailover(t *testing.T) {
	f := newFake(t, 1)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c, err := New([]string{dead.URL, f.PDURL()}, WithBackoff(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Put(ctx, []byte("a"), []byte("1")); err != nil {
		t.Fatalf("Put with the first PD down: %v", err)
	}
	if _, err := New([]string{" "}); err == nil {
		t.Fatal("a client without PD endpoints was accepted")
	}
}
