package etcdapi

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

func rangeOp(key, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key), RangeEnd: bsOrNil(end)}}}
}

func putOp(key string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte("v")}}}
}

func putReqOp(r *pb.PutRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: r}}
}

func delOp(key, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key), RangeEnd: bsOrNil(end)}}}
}

func txnOp(then, els []*pb.RequestOp) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: then, Failure: els}}}
}

func ops(o ...*pb.RequestOp) []*pb.RequestOp { return o }

func bsOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func nOps(n int, mk func(i int) *pb.RequestOp) []*pb.RequestOp {
	out := make([]*pb.RequestOp, n)
	for i := range out {
		out[i] = mk(i)
	}
	return out
}

func compares(n int) []*pb.Compare {
	out := make([]*pb.Compare, n)
	for i := range out {
		out[i] = &pb.Compare{Key: []byte("k")}
	}
	return out
}

func checkErr(t *testing.T, what string, got error, want *etcderr.Error) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Fatalf("%s: %v, want no error", what, got)
		}
		return
	}
	var e *etcderr.Error
	if !errors.As(got, &e) || e != want {
		t.Fatalf("%s: %v, want %q", what, got, want.Msg)
	}
}

func TestCheckRange(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *pb.RangeRequest
		want *etcderr.Error
	}{
		{"ok", &pb.RangeRequest{Key: []byte("k")}, nil},
		{"empty key", &pb.RangeRequest{}, etcderr.EmptyKey},
		{"empty key with a range end", &pb.RangeRequest{RangeEnd: []byte{0}}, etcderr.EmptyKey},
		{"\\x00 key", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}, nil},
		{"sort order 3", &pb.RangeRequest{Key: []byte("k"), SortOrder: 3}, etcderr.InvalidSortOpt},
		{"sort order -1", &pb.RangeRequest{Key: []byte("k"), SortOrder: -1}, etcderr.InvalidSortOpt},
		{"sort target 5", &pb.RangeRequest{Key: []byte("k"), SortTarget: 5}, etcderr.InvalidSortOpt},
		{"sort target 100", &pb.RangeRequest{Key: []byte("k"), SortTarget: 100, SortOrder: pb.RangeRequest_ASCEND}, etcderr.InvalidSortOpt},
		{"empty key before the sort option", &pb.RangeRequest{SortOrder: 9}, etcderr.EmptyKey},
		{"negative limit and revision are fine", &pb.RangeRequest{Key: []byte("k"), Limit: -1, Revision: -5}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { checkErr(t, "checkRange", checkRange(tc.req), tc.want) })
	}
	for target := range int32(5) {
		for order := range int32(3) {
			req := &pb.RangeRequest{Key: []byte("k"), SortTarget: pb.RangeRequest_SortTarget(target), SortOrder: pb.RangeRequest_SortOrder(order)}
			checkErr(t, req.String(), checkRange(req), nil)
		}
	}
}

func TestCheckPutDelete(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *pb.PutRequest
		want *etcderr.Error
	}{
		{"ok", &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}, nil},
		{"empty value", &pb.PutRequest{Key: []byte("k")}, nil},
		{"lease (checked on apply)", &pb.PutRequest{Key: []byte("k"), Lease: 5}, nil},
		{"empty key", &pb.PutRequest{Value: []byte("v")}, etcderr.EmptyKey},
		{"ignore_value with a value", &pb.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true}, etcderr.ValueProvided},
		{"ignore_value without a value", &pb.PutRequest{Key: []byte("k"), IgnoreValue: true}, nil},
		{"ignore_value with a lease", &pb.PutRequest{Key: []byte("k"), IgnoreValue: true, Lease: 1}, nil},
		{"ignore_lease with a lease", &pb.PutRequest{Key: []byte("k"), IgnoreLease: true, Lease: 1}, etcderr.LeaseProvided},
		{"ignore_lease with a value", &pb.PutRequest{Key: []byte("k"), IgnoreLease: true, Value: []byte("v")}, nil},
		{"empty key first", &pb.PutRequest{IgnoreValue: true, Value: []byte("v"), IgnoreLease: true, Lease: 1}, etcderr.EmptyKey},
		{"value before lease", &pb.PutRequest{Key: []byte("k"), IgnoreValue: true, Value: []byte("v"), IgnoreLease: true, Lease: 1}, etcderr.ValueProvided},
	} {
		t.Run(tc.name, func(t *testing.T) { checkErr(t, "checkPut", checkPut(tc.req), tc.want) })
	}
	checkErr(t, "delete", checkDelete(&pb.DeleteRangeRequest{Key: []byte("k"), RangeEnd: []byte("l")}), nil)
	checkErr(t, "delete all", checkDelete(&pb.DeleteRangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}), nil)
	checkErr(t, "delete empty key", checkDelete(&pb.DeleteRangeRequest{RangeEnd: []byte("l")}), etcderr.EmptyKey)
}

func TestCheckTxnLimitsAndOps(t *testing.T) {
	const maxOps = DefaultMaxTxnOps
	puts := func(n int) []*pb.RequestOp {
		return nOps(n, func(i int) *pb.RequestOp { return putOp(fmt.Sprint("k", i)) })
	}
	gets := func(n int) []*pb.RequestOp { return nOps(n, func(i int) *pb.RequestOp { return rangeOp("k", "") }) }
	for _, tc := range []struct {
		name string
		req  *pb.TxnRequest
		want *etcderr.Error
	}{
		{"empty", &pb.TxnRequest{}, nil},
		{"128 of each", &pb.TxnRequest{Compare: compares(maxOps), Success: puts(maxOps), Failure: gets(maxOps)}, nil},
		{"129 compares", &pb.TxnRequest{Compare: compares(maxOps + 1)}, etcderr.TooManyOps},
		{"129 success", &pb.TxnRequest{Success: gets(maxOps + 1)}, etcderr.TooManyOps},
		{"129 failure", &pb.TxnRequest{Failure: puts(maxOps + 1)}, etcderr.TooManyOps},
		// a nested txn gets the budget minus the largest list of its parent
		{"nested within the budget", &pb.TxnRequest{Compare: compares(100), Success: append(gets(99), txnOp(gets(28), gets(28)))}, nil},
		{"nested over the budget", &pb.TxnRequest{Compare: compares(100), Success: append(gets(99), txnOp(gets(29), nil))}, etcderr.TooManyOps},
		{"nested else over the budget", &pb.TxnRequest{Success: gets(100), Failure: ops(txnOp(nil, gets(29)))}, etcderr.TooManyOps},
		{"nested compares count", &pb.TxnRequest{Success: append(gets(127), &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Compare: compares(2)}}})}, etcderr.TooManyOps},
		// 128-64 left for the middle txn, 64-32 for the inner one
		{"two levels of nesting", &pb.TxnRequest{Success: append(gets(63), txnOp(append(gets(31), txnOp(gets(32), nil)), nil))}, nil},
		{"two levels, over", &pb.TxnRequest{Success: append(gets(63), txnOp(append(gets(31), txnOp(gets(33), nil)), nil))}, etcderr.TooManyOps},
		{"full parent leaves an empty nested txn", &pb.TxnRequest{Success: append(gets(127), txnOp(nil, nil))}, nil},
		{"full parent, nested op", &pb.TxnRequest{Success: append(gets(127), txnOp(gets(1), nil))}, etcderr.TooManyOps},

		{"empty compare key", &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a")}, {RangeEnd: []byte("b")}}}, etcderr.EmptyKey},
		{"empty key in success", &pb.TxnRequest{Success: ops(rangeOp("", ""))}, etcderr.EmptyKey},
		{"empty key in failure", &pb.TxnRequest{Failure: ops(delOp("", "z"))}, etcderr.EmptyKey},
		{"empty put key in a nested txn", &pb.TxnRequest{Success: ops(txnOp(nil, ops(putOp(""))))}, etcderr.EmptyKey},
		{"empty compare key in a nested txn", &pb.TxnRequest{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Compare: []*pb.Compare{{}}}}})}, etcderr.EmptyKey},
		{"invalid sort in a nested txn", &pb.TxnRequest{Failure: ops(txnOp(ops(&pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("k"), SortOrder: 7}}}), nil))}, etcderr.InvalidSortOpt},
		{"value provided", &pb.TxnRequest{Success: ops(putReqOp(&pb.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true}))}, etcderr.ValueProvided},
		{"lease provided", &pb.TxnRequest{Failure: ops(putReqOp(&pb.PutRequest{Key: []byte("k"), Lease: 2, IgnoreLease: true}))}, etcderr.LeaseProvided},
		{"an empty op is etcd's key not found", &pb.TxnRequest{Success: ops(rangeOp("k", ""), &pb.RequestOp{})}, etcderr.KeyNotFound},
		{"an empty op in a nested failure branch", &pb.TxnRequest{Success: ops(txnOp(nil, ops(&pb.RequestOp{})))}, etcderr.KeyNotFound},

		// the order of the checks is etcd's
		{"too many ops before an empty compare key", &pb.TxnRequest{Compare: append(compares(maxOps), &pb.Compare{})}, etcderr.TooManyOps},
		{"too many ops in failure before an op in success", &pb.TxnRequest{Success: ops(rangeOp("", "")), Failure: gets(maxOps + 1)}, etcderr.TooManyOps},
		{"compare key before ops", &pb.TxnRequest{Compare: []*pb.Compare{{}}, Success: ops(rangeOp("", ""))}, etcderr.EmptyKey},
		{"success ops before failure ops", &pb.TxnRequest{Success: ops(putReqOp(&pb.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true})), Failure: ops(rangeOp("", ""))}, etcderr.ValueProvided},
		{"an invalid op before a duplicate key", &pb.TxnRequest{Success: ops(putOp("a"), putOp("a")), Failure: ops(rangeOp("", ""))}, etcderr.EmptyKey},
		{"an invalid nested op before a duplicate key", &pb.TxnRequest{Success: ops(putOp("a"), putOp("a"), txnOp(ops(&pb.RequestOp{}), nil))}, etcderr.KeyNotFound},
		{"an invalid op after a nested duplicate", &pb.TxnRequest{Success: ops(txnOp(ops(putOp("a"), putOp("a")), nil), rangeOp("k", "k\x00"), putReqOp(&pb.PutRequest{Key: []byte("z"), IgnoreLease: true, Lease: 1}))}, etcderr.LeaseProvided},
	} {
		t.Run(tc.name, func(t *testing.T) { checkErr(t, "checkTxn", checkTxn(tc.req, maxOps), tc.want) })
	}
	// A smaller --max-txn-ops.
	checkErr(t, "max 2", checkTxn(&pb.TxnRequest{Success: gets(3)}, 2), etcderr.TooManyOps)
	checkErr(t, "max 2 nested", checkTxn(&pb.TxnRequest{Success: ops(txnOp(gets(1), gets(1)))}, 2), nil)
	checkErr(t, "max 2 nested empty", checkTxn(&pb.TxnRequest{Success: ops(rangeOp("k", ""), txnOp(nil, nil))}, 2), nil)
	checkErr(t, "max 2 nested over", checkTxn(&pb.TxnRequest{Success: ops(rangeOp("k", ""), txnOp(gets(1), nil))}, 2), etcderr.TooManyOps)
}

func TestCheckTxnDuplicateKeys(t *testing.T) {
	dup := etcderr.DuplicateKey
	for _, tc := range []struct {
		name    string
		success []*pb.RequestOp
		want    *etcderr.Error
	}{
		{"two puts", ops(putOp("a"), putOp("b")), nil},
		{"put twice", ops(putOp("a"), putOp("b"), putOp("a")), dup},
		{"put then delete it", ops(putOp("a"), delOp("a", "")), dup},
		{"delete then put", ops(delOp("a", ""), putOp("a")), dup},
		{"put inside a deleted range", ops(delOp("a", "c"), putOp("b")), dup},
		{"put at the start of a deleted range", ops(putOp("a"), delOp("a", "c")), dup},
		{"put at the end of a deleted range", ops(delOp("a", "c"), putOp("c")), nil},
		{"put before a deleted range", ops(delOp("b", "c"), putOp("a")), nil},
		{"put inside a prefix delete", ops(delOp("foo/", "foo0"), putOp("foo/bar")), dup},
		{"put next to a prefix delete", ops(delOp("foo/", "foo0"), putOp("foo0")), nil},
		{"prefix delete of a \\xff key", ops(delOp("a\xff", "b"), putOp("a\xff\xff")), dup},
		{"put in a from-key delete", ops(delOp("b", "\x00"), putOp("zzz")), dup},
		{"put at a from-key delete's start", ops(putOp("b"), delOp("b", "\x00")), dup},
		{"put before a from-key delete", ops(delOp("b", "\x00"), putOp("a")), nil},
		{"put in a delete of everything", ops(putOp("\xff"), delOp("\x00", "\x00")), dup},
		{"delete with an end before its key deletes nothing", ops(delOp("c", "a"), putOp("b")), nil},
		{"two overlapping deletes", ops(delOp("a", "c"), delOp("b", "d"), delOp("a", ""), delOp("a", "\x00")), nil},
		{"the same delete twice", ops(delOp("a", "c"), delOp("a", "c")), nil},
		{"ranges are not writes", ops(rangeOp("a", "z"), putOp("b"), rangeOp("b", "")), nil},

		{"nested put over an outer put", ops(putOp("a"), txnOp(ops(putOp("a")), nil)), dup},
		{"outer put after a nested put", ops(txnOp(nil, ops(putOp("a"))), putOp("a")), dup},
		{"nested then and else put the same key", ops(txnOp(ops(putOp("a")), ops(putOp("a")))), nil},
		{"nested then put in the else delete", ops(txnOp(ops(putOp("b")), ops(delOp("a", "c")))), nil},
		{"nested put in an outer delete", ops(delOp("a", "c"), txnOp(ops(putOp("b")), nil)), dup},
		{"outer put in a nested delete", ops(txnOp(nil, ops(delOp("a", "\x00"))), putOp("q")), dup},
		{"nested deletes overlap outer deletes", ops(delOp("a", "z"), txnOp(ops(delOp("b", "")), ops(delOp("a", "\x00")))), nil},
		{"two nested txns put the same key", ops(txnOp(ops(putOp("a")), nil), txnOp(nil, ops(putOp("a")))), dup},
		{"a nested txn deletes what an earlier one puts", ops(txnOp(ops(putOp("b")), nil), txnOp(ops(delOp("a", "c")), nil)), dup},
		{"a nested txn puts what an earlier one deletes", ops(txnOp(ops(delOp("a", "c")), nil), txnOp(ops(putOp("b")), nil)), dup},
		{"duplicate inside a nested branch", ops(txnOp(nil, ops(putOp("x"), delOp("x", "")))), dup},
		{"depth 2: then and else of the inner txn", ops(txnOp(ops(txnOp(ops(putOp("a")), ops(putOp("a")))), nil)), nil},
		{"depth 2: inner put over the middle put", ops(txnOp(ops(putOp("a"), txnOp(nil, ops(putOp("a")))), nil)), dup},
		{"depth 2 against the top", ops(putOp("a"), txnOp(ops(txnOp(ops(putOp("b")), ops(putOp("a")))), nil)), dup},
		{"depth 2 in both branches", ops(txnOp(ops(txnOp(ops(putOp("a")), nil)), ops(txnOp(nil, ops(putOp("a")))))), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, "success", checkTxn(&pb.TxnRequest{Success: tc.success}, DefaultMaxTxnOps), tc.want)
			checkErr(t, "failure", checkTxn(&pb.TxnRequest{Failure: tc.success}, DefaultMaxTxnOps), tc.want)
			// the two top-level branches are checked apart
			_, _, d1 := refDuplicate(tc.success[:1])
			_, _, d2 := refDuplicate(tc.success[1:])
			var want *etcderr.Error
			if d1 || d2 {
				want = dup
			}
			checkErr(t, "split", checkTxn(&pb.TxnRequest{Success: tc.success[:1], Failure: tc.success[1:]}, DefaultMaxTxnOps), want)
			if _, _, ref := refDuplicate(tc.success); ref != (tc.want != nil) {
				t.Fatalf("the reference says duplicate=%v", ref)
			}
		})
	}
}

// refDuplicate is the duplicate-key rule written the slow, obvious way:
// every pair of ops of a branch, each op's writes being its own (a nested
// txn's: both branches', each checked on its own first).
func refDuplicate(branch []*pb.RequestOp) (puts []string, dels []keyRange, dup bool) {
	type w struct {
		puts []string
		dels []keyRange
	}
	var per []w
	for _, op := range branch {
		switch {
		case op.GetRequestPut() != nil:
			per = append(per, w{puts: []string{string(op.GetRequestPut().GetKey())}})
		case op.GetRequestDeleteRange() != nil:
			d := op.GetRequestDeleteRange()
			per = append(per, w{dels: []keyRange{{d.GetKey(), d.GetRangeEnd()}}})
		case op.GetRequestTxn() != nil:
			p1, d1, dup1 := refDuplicate(op.GetRequestTxn().GetSuccess())
			p2, d2, dup2 := refDuplicate(op.GetRequestTxn().GetFailure())
			if dup1 || dup2 {
				return nil, nil, true
			}
			per = append(per, w{puts: append(p1, p2...), dels: append(d1, d2...)})
		}
	}
	covers := func(d keyRange, k string) bool {
		lo, hi, ok := d.bounds()
		if !ok {
			return false
		}
		return string(lo) <= k && (hi == nil || k < string(hi))
	}
	for i := range per {
		for j := range per {
			if i == j {
				continue
			}
			for _, k := range per[i].puts {
				for _, k2 := range per[j].puts {
					if k == k2 {
						return nil, nil, true
					}
				}
				for _, d := range per[j].dels {
					if covers(d, k) {
						return nil, nil, true
					}
				}
			}
		}
		puts = append(puts, per[i].puts...)
		dels = append(dels, per[i].dels...)
	}
	return puts, dels, false
}

// randomBranch writes to a tiny key space so that overlaps are common.
func randomBranch(r *rand.Rand, depth int) []*pb.RequestOp {
	keys := []string{"a", "a\x00", "ab", "b", "c", "\xff"}
	key := func() string { return keys[r.IntN(len(keys))] }
	n := r.IntN(5)
	out := make([]*pb.RequestOp, 0, n)
	for range n {
		switch x := r.IntN(10); {
		case x < 4:
			out = append(out, putOp(key()))
		case x < 7:
			ends := []string{"", "\x00", key(), key() + "\x00", "b"}
			out = append(out, delOp(key(), ends[r.IntN(len(ends))]))
		case x < 8:
			out = append(out, rangeOp(key(), ""))
		default:
			if depth < 3 {
				out = append(out, txnOp(randomBranch(r, depth+1), randomBranch(r, depth+1)))
			}
		}
	}
	return out
}

func TestCheckTxnDuplicateKeysAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var dups int
	for i := range 20000 {
		branch := randomBranch(r, 0)
		_, _, want := refDuplicate(branch)
		err := checkTxn(&pb.TxnRequest{Success: branch}, DefaultMaxTxnOps)
		if got := err != nil; got != want || (err != nil && !errors.Is(err, etcderr.DuplicateKey)) {
			t.Fatalf("case %d: checkTxn %v, reference says duplicate=%v:\n%v", i, err, want, &pb.TxnRequest{Success: branch})
		}
		if want {
			dups++
		}
	}
	t.Logf("%d of 20000 random branches had a duplicate", dups)
}

// largeTxn is a txn as wide as the default limits allow at two levels:
// 64 nested txns of 32 puts and 32 deletes each.
func largeTxn() *pb.TxnRequest {
	var top []*pb.RequestOp
	for i := range 64 {
		var inner []*pb.RequestOp
		for j := range 32 {
			k := fmt.Sprintf("%03d/%03d", i, j)
			inner = append(inner, putOp(k), delOp(k+"/", k+"0"))
		}
		top = append(top, txnOp(inner[:32], inner[32:]))
	}
	return &pb.TxnRequest{Success: top}
}

func TestCheckTxnLarge(t *testing.T) {
	req := largeTxn()
	if err := checkTxn(req, DefaultMaxTxnOps); err != nil {
		t.Fatal(err)
	}
	// one more put that some nested delete covers
	req.Success = append(req.Success, putOp("010/020/x"))
	checkErr(t, "large with a duplicate", checkTxn(req, DefaultMaxTxnOps), etcderr.DuplicateKey)
}

// BenchmarkCheckTxnLarge: the duplicate check is O(n log n), not
// quadratic in the number of puts and deletes.
func BenchmarkCheckTxnLarge(b *testing.B) {
	req := largeTxn()
	for b.Loop() {
		if err := checkTxn(req, DefaultMaxTxnOps); err != nil {
			b.Fatal(err)
		}
	}
}
