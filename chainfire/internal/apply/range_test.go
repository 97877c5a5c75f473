package apply_test

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/mvccpb"
)

var rangeKeys = []string{"a", "ab", "abc", "b", "b\xff", "c", "\xff", "\xff\xff"}

func populated(t *testing.T) *harness {
	h := newHarness(t)
	for _, k := range rangeKeys {
		h.put(k, "v-"+k)
	}
	return h
}

func TestRangeEndRules(t *testing.T) {
	h := populated(t)
	for _, tc := range []struct {
		name, key, end, want string
	}{
		{"single key", "ab", "", "ab"},
		{"single missing key", "aa", "", ""},
		{"single key is not a prefix", "a", "", "a"},
		{"prefix a", "a", "b", "a,ab,abc"},
		{"prefix ab", "ab", "ac", "ab,abc"},
		{"prefix b\\xff", "b\xff", "c", "b\xff"},
		{"explicit range", "ab", "b\xff", "ab,abc,b"},
		{"from key", "ab", "\x00", "ab,abc,b,b\xff,c,\xff,\xff\xff"},
		{"from \\xff", "\xff", "\x00", "\xff,\xff\xff"},
		{"all keys", "\x00", "\x00", "a,ab,abc,b,b\xff,c,\xff,\xff\xff"},
		{"from \\x00 to b", "\x00", "b", "a,ab,abc"},
		{"end before key", "b", "a", ""},
		{"end equals key", "b", "b", ""},
		{"end \\x00\\x00 is before every key", "a", "\x00\x00", ""},
		{"past the last key", "\xff\xff\xff", "\x00", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.mustGet(&pb.RangeRequest{Key: []byte(tc.key), RangeEnd: bs(tc.end)})
			if got := keysOf(resp.GetKvs()); got != tc.want {
				t.Fatalf("keys %q, want %q", got, tc.want)
			}
			if n := int64(len(resp.GetKvs())); resp.GetCount() != n || resp.GetMore() {
				t.Fatalf("count %d more %v, want %d false", resp.GetCount(), resp.GetMore(), n)
			}
			if resp.GetHeader().GetRevision() != h.store.Rev() {
				t.Fatalf("header revision %d, want %d", resp.GetHeader().GetRevision(), h.store.Rev())
			}
		})
	}
}

func TestRangeLimit(t *testing.T) {
	h := populated(t)
	all := int64(len(rangeKeys))
	for _, tc := range []struct {
		limit    int64
		wantKeys string
		more     bool
	}{
		{0, "a,ab,abc,b,b\xff,c,\xff,\xff\xff", false},
		{1, "a", true},
		{3, "a,ab,abc", true},
		{all - 1, "a,ab,abc,b,b\xff,c,\xff", true},
		{all, "a,ab,abc,b,b\xff,c,\xff,\xff\xff", false},
		{all + 1, "a,ab,abc,b,b\xff,c,\xff,\xff\xff", false},
		{math.MaxInt64, "a,ab,abc,b,b\xff,c,\xff,\xff\xff", false},
		{-1, "a,ab,abc,b,b\xff,c,\xff,\xff\xff", false}, // etcd: no limit
	} {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			resp := h.mustGet(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Limit: tc.limit})
			if got := keysOf(resp.GetKvs()); got != tc.wantKeys || resp.GetMore() != tc.more || resp.GetCount() != all {
				t.Fatalf("keys %q more %v count %d, want %q %v %d", got, resp.GetMore(), resp.GetCount(), tc.wantKeys, tc.more, all)
			}
		})
	}
	t.Run("single key", func(t *testing.T) {
		resp := h.mustGet(&pb.RangeRequest{Key: []byte("b"), Limit: 1})
		if keysOf(resp.GetKvs()) != "b" || resp.GetMore() || resp.GetCount() != 1 {
			t.Fatalf("got %q more %v count %d", keysOf(resp.GetKvs()), resp.GetMore(), resp.GetCount())
		}
	})
}

func TestRangeRevisions(t *testing.T) {
	h := newHarness(t)
	r1 := h.put("k", "v1")
	r2 := h.put("k", "v2")
	r3 := h.put("other", "x")
	if _, err := h.del("k", ""); err != nil {
		t.Fatal(err)
	}
	r4 := h.store.Rev()
	r5 := h.put("k", "v3")
	cur := h.store.Rev()
	if cur != r5 || r1 != 2 {
		t.Fatalf("revisions %d..%d, want 2..", r1, r5)
	}
	at := func(rev int64) string {
		t.Helper()
		resp := h.mustGet(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev})
		if resp.GetHeader().GetRevision() != cur {
			t.Fatalf("header revision %d at %d, want the current %d", resp.GetHeader().GetRevision(), rev, cur)
		}
		return fmtKVs(resp.GetKvs())
	}
	for _, tc := range []struct {
		rev  int64
		want string
	}{
		{1, ""},
		{r1, "k=v1@2/2/1"},
		{r2, "k=v2@2/3/2"},
		{r3, "k=v2@2/3/2 other=x@4/4/1"},
		{r4, "other=x@4/4/1"},
		{r5, "k=v3@6/6/1 other=x@4/4/1"},
		{0, "k=v3@6/6/1 other=x@4/4/1"},
		{-1, "k=v3@6/6/1 other=x@4/4/1"}, // <= 0 is the latest
		{math.MinInt64, "k=v3@6/6/1 other=x@4/4/1"},
	} {
		if got := at(tc.rev); got != tc.want {
			t.Errorf("at %d: %q, want %q", tc.rev, got, tc.want)
		}
	}
	for _, rev := range []int64{cur + 1, math.MaxInt64} {
		_, err := h.get(&pb.RangeRequest{Key: []byte("k"), Revision: rev})
		wantErr(t, fmt.Sprintf("range at %d", rev), err, etcderr.FutureRev)
	}

	resp, err := h.compact(r3)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetHeader().GetRevision() != cur {
		t.Fatalf("compaction header revision %d, want %d", resp.GetHeader().GetRevision(), cur)
	}
	for _, rev := range []int64{1, r1, r2} {
		_, err := h.get(&pb.RangeRequest{Key: []byte("k"), Revision: rev})
		wantErr(t, fmt.Sprintf("range at compacted %d", rev), err, etcderr.Compacted)
		_, err = h.get(&pb.RangeRequest{Key: []byte("k"), Revision: rev, CountOnly: true})
		wantErr(t, fmt.Sprintf("count at compacted %d", rev), err, etcderr.Compacted)
	}
	// The compact revision itself stays readable, as in etcd.
	if got := at(r3); got != "k=v2@2/3/2 other=x@4/4/1" {
		t.Fatalf("at the compact revision %d: %q", r3, got)
	}
	if got := at(-5); got != "k=v3@6/6/1 other=x@4/4/1" {
		t.Fatalf("negative revision after compaction: %q", got)
	}
}

// sortFixture has five keys whose version, create, mod and value orders
// all differ from the key order, with ties in version and value.
//
//	key  value version create mod
//	k1   e     2       3      8
//	k2   a     1       4      4
//	k3   b     2       2      5
//	k4   a     1       7      7
//	k5   d     1       6      6
func sortFixture(t *testing.T) *harness {
	h := newHarness(t)
	for _, kv := range [][2]string{{"k3", "c"}, {"k1", "e"}, {"k2", "a"}, {"k3", "b"}, {"k5", "d"}, {"k4", "a"}, {"k1", "e"}} {
		h.put(kv[0], kv[1])
	}
	if got := h.dump(); got != "k1=e@3/8/2 k2=a@4/4/1 k3=b@2/5/2 k4=a@7/7/1 k5=d@6/6/1" {
		t.Fatalf("fixture: %s", got)
	}
	return h
}

var (
	sortTargets = []pb.RangeRequest_SortTarget{pb.RangeRequest_KEY, pb.RangeRequest_VERSION, pb.RangeRequest_CREATE, pb.RangeRequest_MOD, pb.RangeRequest_VALUE}
	sortOrders  = []pb.RangeRequest_SortOrder{pb.RangeRequest_NONE, pb.RangeRequest_ASCEND, pb.RangeRequest_DESCEND}
)

func targetCmp(target pb.RangeRequest_SortTarget) func(a, b *mvccpb.KeyValue) int {
	switch target {
	case pb.RangeRequest_VERSION:
		return func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.GetVersion(), b.GetVersion()) }
	case pb.RangeRequest_CREATE:
		return func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.GetCreateRevision(), b.GetCreateRevision()) }
	case pb.RangeRequest_MOD:
		return func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.GetModRevision(), b.GetModRevision()) }
	case pb.RangeRequest_VALUE:
		return func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.GetValue(), b.GetValue()) }
	}
	return func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.GetKey(), b.GetKey()) }
}

// expectSorted is what etcd returns for a small (<= 12 keys) result: the
// key-ordered input sorted by the target alone, stably (etcd's sort.Sort
// is an insertion sort at that size), so ties stay in ascending key order
// for DESCEND too. A target other than KEY with order NONE sorts ascending.
func expectSorted(kvs []*mvccpb.KeyValue, target pb.RangeRequest_SortTarget, order pb.RangeRequest_SortOrder) []*mvccpb.KeyValue {
	out := slices.Clone(kvs)
	c := targetCmp(target)
	switch {
	case order == pb.RangeRequest_DESCEND:
		slices.SortStableFunc(out, func(a, b *mvccpb.KeyValue) int { return c(b, a) })
	case order == pb.RangeRequest_ASCEND || target != pb.RangeRequest_KEY:
		slices.SortStableFunc(out, c)
	}
	return out
}

func TestRangeSortMatrix(t *testing.T) {
	h := sortFixture(t)
	all := h.mustGet(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l")}).GetKvs()
	for _, target := range sortTargets {
		for _, order := range sortOrders {
			t.Run(target.String()+"/"+order.String(), func(t *testing.T) {
				want := keysOf(expectSorted(all, target, order))
				resp := h.mustGet(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), SortTarget: target, SortOrder: order})
				if got := keysOf(resp.GetKvs()); got != want {
					t.Fatalf("keys %s, want %s", got, want)
				}
				if resp.GetCount() != 5 || resp.GetMore() {
					t.Fatalf("count %d more %v", resp.GetCount(), resp.GetMore())
				}
				// With a limit: sorting first, then truncation, except for
				// etcd's target!=KEY/NONE quirk tested below.
				if order == pb.RangeRequest_NONE {
					return
				}
				resp = h.mustGet(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), SortTarget: target, SortOrder: order, Limit: 2})
				full := expectSorted(all, target, order)
				if got := keysOf(resp.GetKvs()); got != keysOf(full[:2]) || !resp.GetMore() || resp.GetCount() != 5 {
					t.Fatalf("limit 2: keys %s more %v count %d, want %s true 5", got, resp.GetMore(), resp.GetCount(), keysOf(full[:2]))
				}
			})
		}
	}
	// Spelled out, the cases where ties matter.
	for _, tc := range []struct {
		target pb.RangeRequest_SortTarget
		order  pb.RangeRequest_SortOrder
		want   string
	}{
		{pb.RangeRequest_VERSION, pb.RangeRequest_DESCEND, "k1,k3,k2,k4,k5"},
		{pb.RangeRequest_VERSION, pb.RangeRequest_ASCEND, "k2,k4,k5,k1,k3"},
		{pb.RangeRequest_VERSION, pb.RangeRequest_NONE, "k2,k4,k5,k1,k3"},
		{pb.RangeRequest_VALUE, pb.RangeRequest_DESCEND, "k1,k5,k3,k2,k4"},
		{pb.RangeRequest_MOD, pb.RangeRequest_DESCEND, "k1,k4,k5,k3,k2"},
		{pb.RangeRequest_CREATE, pb.RangeRequest_NONE, "k3,k1,k2,k5,k4"},
		{pb.RangeRequest_KEY, pb.RangeRequest_DESCEND, "k5,k4,k3,k2,k1"},
	} {
		resp := h.mustGet(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), SortTarget: tc.target, SortOrder: tc.order})
		if got := keysOf(resp.GetKvs()); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.target, tc.order, got, tc.want)
		}
	}
}

// TestRangeSortNoneLimit pins etcd's rangeLimit quirk: with order NONE the
// limit is applied while reading, so a target other than KEY sorts only the
// first limit+1 keys (in key order) before truncating.
func TestRangeSortNoneLimit(t *testing.T) {
	h := sortFixture(t)
	for _, tc := range []struct {
		target pb.RangeRequest_SortTarget
		order  pb.RangeRequest_SortOrder
		limit  int64
		want   string
	}{
		// first 3 keys k1(v2) k2(v1) k3(v2) sorted by version: k2 k1 k3
		{pb.RangeRequest_VERSION, pb.RangeRequest_NONE, 2, "k2,k1"},
		// an explicit ASCEND sorts everything first
		{pb.RangeRequest_VERSION, pb.RangeRequest_ASCEND, 2, "k2,k4"},
		// first 2 keys k1(e) k2(a) by value: k2 k1
		{pb.RangeRequest_VALUE, pb.RangeRequest_NONE, 1, "k2"},
		{pb.RangeRequest_VALUE, pb.RangeRequest_ASCEND, 1, "k2"},
		{pb.RangeRequest_VALUE, pb.RangeRequest_NONE, 2, "k2,k3"},
		{pb.RangeRequest_VALUE, pb.RangeRequest_ASCEND, 2, "k2,k4"},
		{pb.RangeRequest_CREATE, pb.RangeRequest_NONE, 1, "k1"},
		{pb.RangeRequest_CREATE, pb.RangeRequest_ASCEND, 1, "k3"},
		{pb.RangeRequest_CREATE, pb.RangeRequest_NONE, 3, "k3,k1,k2"},
		{pb.RangeRequest_CREATE, pb.RangeRequest_ASCEND, 3, "k3,k1,k2"},
		{pb.RangeRequest_MOD, pb.RangeRequest_NONE, 2, "k2,k3"},
		{pb.RangeRequest_MOD, pb.RangeRequest_ASCEND, 2, "k2,k3"},
		{pb.RangeRequest_KEY, pb.RangeRequest_ASCEND, 2, "k1,k2"},
		{pb.RangeRequest_KEY, pb.RangeRequest_DESCEND, 2, "k5,k4"},
	} {
		resp := h.mustGet(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), SortTarget: tc.target, SortOrder: tc.order, Limit: tc.limit})
		if got := keysOf(resp.GetKvs()); got != tc.want || !resp.GetMore() || resp.GetCount() != 5 {
			t.Errorf("%s %s limit %d: %s more %v count %d, want %s true 5", tc.target, tc.order, tc.limit, got, resp.GetMore(), resp.GetCount(), tc.want)
		}
	}
}

func TestRangeKeysOnlyCountOnly(t *testing.T) {
	h := sortFixture(t)
	resp := h.mustGet(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), KeysOnly: true})
	if got := fmtKVs(resp.GetKvs()); got != "k1=@3/8/2 k2=@4/4/1 k3=@2/5/2 k4=@7/7/1 k5=@6/6/1" {
		t.Fatalf("keys_only: %s", got)
	}
	// Sorting by value still sees the values, then drops them.
	resp = h.mustGet(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), KeysOnly: true, SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_DESCEND})
	if got := fmtKVs(resp.GetKvs()); got != "k1=@3/8/2 k5=@6/6/1 k3=@2/5/2 k2=@4/4/1 k4=@7/7/1" {
		t.Fatalf("keys_only by value: %s", got)
	}
	// order NONE + limit 3: only k1..k4 are read, sorted by value.
	resp = h.mustGet(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), KeysOnly: true, SortTarget: pb.RangeRequest_VALUE, Limit: 3})
	if got := fmtKVs(resp.GetKvs()); got != "k2=@4/4/1 k4=@7/7/1 k3=@2/5/2" || !resp.GetMore() || resp.GetCount() != 5 {
		t.Fatalf("keys_only by value with limit: %s more %v count %d", got, resp.GetMore(), resp.GetCount())
	}

	for _, req := range []*pb.RangeRequest{
		{Key: []byte("k"), RangeEnd: []byte("l"), CountOnly: true},
		{Key: []byte("k"), RangeEnd: []byte("l"), CountOnly: true, Limit: 1},
		{Key: []byte("k"), RangeEnd: []byte("l"), CountOnly: true, MinModRevision: 8, SortOrder: pb.RangeRequest_DESCEND},
		{Key: []byte("k"), RangeEnd: []byte("l"), CountOnly: true, KeysOnly: true},
	} {
		resp := h.mustGet(req)
		if len(resp.GetKvs()) != 0 || resp.GetCount() != 5 || resp.GetMore() || resp.GetHeader().GetRevision() != 8 {
			t.Fatalf("count_only %v: kvs %d count %d more %v rev %d", req, len(resp.GetKvs()), resp.GetCount(), resp.GetMore(), resp.GetHeader().GetRevision())
		}
	}
	resp = h.mustGet(&pb.RangeRequest{Key: []byte("nope"), CountOnly: true})
	if resp.GetCount() != 0 {
		t.Fatalf("count of a missing key %d", resp.GetCount())
	}
}

func TestRangeRevisionFilters(t *testing.T) {
	h := sortFixture(t)
	for _, tc := range []struct {
		name string
		req  *pb.RangeRequest
		want string
		more bool
	}{
		{"min_mod", &pb.RangeRequest{MinModRevision: 6}, "k1,k4,k5", false},
		{"max_mod", &pb.RangeRequest{MaxModRevision: 5}, "k2,k3", false},
		{"min and max mod", &pb.RangeRequest{MinModRevision: 5, MaxModRevision: 7}, "k3,k4,k5", false},
		{"min_create", &pb.RangeRequest{MinCreateRevision: 4}, "k2,k4,k5", false},
		{"max_create", &pb.RangeRequest{MaxCreateRevision: 3}, "k1,k3", false},
		{"create window", &pb.RangeRequest{MinCreateRevision: 3, MaxCreateRevision: 6}, "k1,k2,k5", false},
		{"all four", &pb.RangeRequest{MinModRevision: 4, MaxModRevision: 7, MinCreateRevision: 3, MaxCreateRevision: 7}, "k2,k4,k5", false},
		{"nothing matches", &pb.RangeRequest{MinModRevision: 9}, "", false},
		// the filters apply before the limit
		{"min_mod limit 2", &pb.RangeRequest{MinModRevision: 6, Limit: 2}, "k1,k4", true},
		{"min_mod limit 3", &pb.RangeRequest{MinModRevision: 6, Limit: 3}, "k1,k4,k5", false},
		{"max_create limit 1", &pb.RangeRequest{MaxCreateRevision: 3, Limit: 1}, "k1", true},
		{"min_mod limit 1 sorted by mod desc", &pb.RangeRequest{MinModRevision: 6, Limit: 1, SortTarget: pb.RangeRequest_MOD, SortOrder: pb.RangeRequest_DESCEND}, "k1", true},
		{"min_create limit 2 sorted by create", &pb.RangeRequest{MinCreateRevision: 4, Limit: 2, SortTarget: pb.RangeRequest_CREATE}, "k2,k5", true},
		{"filter keys_only", &pb.RangeRequest{MaxModRevision: 4, KeysOnly: true}, "k2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Key, tc.req.RangeEnd = []byte("k"), []byte("l")
			resp := h.mustGet(tc.req)
			if got := keysOf(resp.GetKvs()); got != tc.want || resp.GetMore() != tc.more || resp.GetCount() != 5 {
				t.Fatalf("keys %s more %v count %d, want %s %v 5", got, resp.GetMore(), resp.GetCount(), tc.want, tc.more)
			}
		})
	}
}

// TestRangeSortLarge checks results above insertion-sort size are ordered
// by the target (the order of ties is etcd's pdqsort's).
func TestRangeSortLarge(t *testing.T) {
	h := newHarness(t)
	var cmds = make([]*pb.PutRequest, 0, 40)
	for i := range 40 {
		cmds = append(cmds, &pb.PutRequest{Key: fmt.Appendf(nil, "k%02d", i), Value: fmt.Appendf(nil, "%d", i%7)})
	}
	for _, c := range cmds {
		if _, err := h.putReq(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, target := range sortTargets {
		for _, order := range []pb.RangeRequest_SortOrder{pb.RangeRequest_ASCEND, pb.RangeRequest_DESCEND} {
			resp := h.mustGet(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), SortTarget: target, SortOrder: order})
			c := targetCmp(target)
			if order == pb.RangeRequest_DESCEND {
				asc := c
				c = func(a, b *mvccpb.KeyValue) int { return asc(b, a) }
			}
			if len(resp.GetKvs()) != 40 || !slices.IsSortedFunc(resp.GetKvs(), c) {
				t.Fatalf("%s %s: not sorted: %s", target, order, keysOf(resp.GetKvs()))
			}
		}
	}
}
