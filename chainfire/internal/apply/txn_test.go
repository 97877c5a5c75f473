package apply_test

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/etcderr"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/mvccpb"
)

var compareResults = []pb.Compare_CompareResult{pb.Compare_EQUAL, pb.Compare_NOT_EQUAL, pb.Compare_GREATER, pb.Compare_LESS}

func holds(res pb.Compare_CompareResult, c int) bool {
	switch res {
	case pb.Compare_EQUAL:
		return c == 0
	case pb.Compare_NOT_EQUAL:
		return c != 0
	case pb.Compare_GREATER:
		return c > 0
	}
	return c < 0
}

// compareCase is one compare and whether etcd says it holds.
type compareCase struct {
	name string
	c    *pb.Compare
	want bool
}

// compareMatrix builds every target x result x (below, equal, above) for
// key "k" (version 2, create 2, mod 3, value "m", lease 0) and for the
// missing key "nope" (a zero key-value, except that VALUE never holds).
func compareMatrix() []compareCase {
	var out []compareCase
	type target struct {
		t      pb.Compare_CompareTarget
		actual int64 // for "k"; "nope" has 0
		mk     func(key string, r pb.Compare_CompareResult, x int64) *pb.Compare
	}
	intTarget := func(t pb.Compare_CompareTarget, set func(c *pb.Compare, x int64)) func(string, pb.Compare_CompareResult, int64) *pb.Compare {
		return func(key string, r pb.Compare_CompareResult, x int64) *pb.Compare {
			c := &pb.Compare{Key: []byte(key), Target: t, Result: r}
			set(c, x)
			return c
		}
	}
	targets := []target{
		{pb.Compare_VERSION, 2, intTarget(pb.Compare_VERSION, func(c *pb.Compare, x int64) { c.TargetUnion = &pb.Compare_Version{Version: x} })},
		{pb.Compare_CREATE, 2, intTarget(pb.Compare_CREATE, func(c *pb.Compare, x int64) { c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: x} })},
		{pb.Compare_MOD, 3, intTarget(pb.Compare_MOD, func(c *pb.Compare, x int64) { c.TargetUnion = &pb.Compare_ModRevision{ModRevision: x} })},
		{pb.Compare_LEASE, 0, intTarget(pb.Compare_LEASE, func(c *pb.Compare, x int64) { c.TargetUnion = &pb.Compare_Lease{Lease: x} })},
	}
	for _, tg := range targets {
		for _, r := range compareResults {
			for _, d := range []int64{-1, 0, 1} {
				out = append(out,
					compareCase{fmt.Sprintf("k %s %s actual%+d", tg.t, r, d), tg.mk("k", r, tg.actual+d), holds(r, -int(d))},
					compareCase{fmt.Sprintf("nope %s %s 0%+d", tg.t, r, d), tg.mk("nope", r, d), holds(r, -int(d))})
			}
		}
	}
	for _, r := range compareResults {
		for _, v := range []struct {
			v string
			c int // "m" compared with v
		}{{"", 1}, {"a", 1}, {"m", 0}, {"m\x00", -1}, {"z", -1}} {
			out = append(out,
				compareCase{fmt.Sprintf("k VALUE %s %q", r, v.v), cmpValue("k", r, v.v), holds(r, v.c)},
				compareCase{fmt.Sprintf("nope VALUE %s %q", r, v.v), cmpValue("nope", r, v.v), false})
		}
	}
	return out
}

func compareFixture(t *testing.T) *harness {
	h := newHarness(t)
	h.put("k", "first") // create 2
	h.put("k", "m")     // mod 3, version 2
	if got := h.dump(); got != "k=m@2/3/2" {
		t.Fatalf("fixture: %s", got)
	}
	return h
}

func TestTxnCompareMatrix(t *testing.T) {
	h := compareFixture(t)
	cases := compareMatrix()
	// Through Raft, all in one batch (each txn writes nothing) ...
	cmds := make([]*chainfirev1.RaftCommand, len(cases))
	for i, tc := range cases {
		cmds[i] = txnCmd(&pb.TxnRequest{Compare: []*pb.Compare{tc.c}})
	}
	results := h.batch(cmds...)
	for i, tc := range cases {
		if results[i].Err != nil {
			t.Fatalf("%s: %v", tc.name, results[i].Err)
		}
		resp := results[i].Response.(*pb.TxnResponse)
		if resp.GetSucceeded() != tc.want {
			t.Errorf("apply %s: succeeded %v, want %v", tc.name, resp.GetSucceeded(), tc.want)
		}
		if resp.GetHeader().GetRevision() != 3 {
			t.Errorf("apply %s: header revision %d, want 3", tc.name, resp.GetHeader().GetRevision())
		}
	}
	// ... and from a read view.
	for _, tc := range cases {
		resp, err := h.readTxn(&pb.TxnRequest{Compare: []*pb.Compare{tc.c}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.GetSucceeded() != tc.want {
			t.Errorf("read-only %s: succeeded %v, want %v", tc.name, resp.GetSucceeded(), tc.want)
		}
	}
	if h.store.Rev() != 3 {
		t.Fatalf("compares changed the revision to %d", h.store.Rev())
	}
}

func TestTxnCompareEdgeCases(t *testing.T) {
	h := newHarness(t)
	h.put("r1", "a")  // 2
	h.put("r2", "b")  // 3
	h.put("r2", "b2") // 4
	h.put("r3", "c")  // 5
	for _, tc := range []struct {
		name string
		cs   []*pb.Compare
		want bool
	}{
		{"range: every key version > 0", []*pb.Compare{{Key: []byte("r"), RangeEnd: []byte("s"), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER}}, true},
		{"range: one key fails", []*pb.Compare{{Key: []byte("r"), RangeEnd: []byte("s"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Version{Version: 1}}}, false},
		{"range: mod < 6", []*pb.Compare{{Key: []byte("r1"), RangeEnd: []byte("\x00"), Target: pb.Compare_MOD, Result: pb.Compare_LESS, TargetUnion: &pb.Compare_ModRevision{ModRevision: 6}}}, true},
		{"range: value != b holds for every key", []*pb.Compare{{Key: []byte("r"), RangeEnd: []byte("s"), Target: pb.Compare_VALUE, Result: pb.Compare_NOT_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("b")}}}, true},
		{"range: value > a fails on r1", []*pb.Compare{{Key: []byte("r"), RangeEnd: []byte("s"), Target: pb.Compare_VALUE, Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Value{Value: []byte("a")}}}, false},
		{"empty range compares a zero kv", []*pb.Compare{{Key: []byte("x"), RangeEnd: []byte("y"), Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL}}, true},
		{"empty range: VALUE never holds", []*pb.Compare{{Key: []byte("x"), RangeEnd: []byte("y"), Target: pb.Compare_VALUE, Result: pb.Compare_NOT_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("q")}}}, false},
		{"inverted range is empty", []*pb.Compare{{Key: []byte("s"), RangeEnd: []byte("r"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL}}, true},
		{"all keys", []*pb.Compare{{Key: []byte{0}, RangeEnd: []byte{0}, Target: pb.Compare_CREATE, Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 1}}}, true},
		{"AND: both hold", []*pb.Compare{cmpVersion("r1", pb.Compare_EQUAL, 1), cmpVersion("r2", pb.Compare_EQUAL, 2)}, true},
		{"AND: second fails", []*pb.Compare{cmpVersion("r1", pb.Compare_EQUAL, 1), cmpVersion("r2", pb.Compare_EQUAL, 1)}, false},
		{"AND: first fails", []*pb.Compare{cmpVersion("r1", pb.Compare_EQUAL, 9), cmpVersion("r2", pb.Compare_EQUAL, 2)}, false},
		{"no compares hold", nil, true},
		// etcd: the union field of another target reads as zero / nil
		{"VALUE target with a version union compares with nil", []*pb.Compare{{Key: []byte("r1"), Target: pb.Compare_VALUE, Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Version{Version: 7}}}, true},
		{"MOD target with a value union compares with 0", []*pb.Compare{{Key: []byte("r1"), Target: pb.Compare_MOD, Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Value{Value: []byte("zzz")}}}, true},
		// etcd: an unknown target compares equal, an unknown result holds
		{"unknown target, EQUAL", []*pb.Compare{{Key: []byte("r1"), Target: 42, Result: pb.Compare_EQUAL}}, true},
		{"unknown target, NOT_EQUAL", []*pb.Compare{{Key: []byte("r1"), Target: 42, Result: pb.Compare_NOT_EQUAL}}, false},
		{"unknown result", []*pb.Compare{{Key: []byte("r1"), Target: pb.Compare_VERSION, Result: 42, TargetUnion: &pb.Compare_Version{Version: 99}}}, true},
		{"unknown result on a missing key", []*pb.Compare{{Key: []byte("zz"), Target: pb.Compare_VERSION, Result: 42}}, true},
		{"unknown result, VALUE on a missing key", []*pb.Compare{{Key: []byte("zz"), Target: pb.Compare_VALUE, Result: 42}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.mustTxn(&pb.TxnRequest{Compare: tc.cs})
			if resp.GetSucceeded() != tc.want {
				t.Fatalf("succeeded %v, want %v", resp.GetSucceeded(), tc.want)
			}
			ro, err := h.readTxn(&pb.TxnRequest{Compare: tc.cs})
			if err != nil || ro.GetSucceeded() != tc.want {
				t.Fatalf("read-only: %v %v", ro, err)
			}
		})
	}
}

func TestTxnBranches(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1") // 2
	h.put("b", "2") // 3
	ops := func(tag string) []*pb.RequestOp {
		return []*pb.RequestOp{
			opGet("a", ""),
			opPut("c", tag),
			opDel("b", ""),
			opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opGet("c", "")}}),
		}
	}
	resp := h.mustTxn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpValue("a", pb.Compare_EQUAL, "nope")},
		Success: ops("then"),
		Failure: ops("else"),
	})
	if resp.GetSucceeded() || resp.GetHeader().GetRevision() != 4 || len(resp.GetResponses()) != 4 {
		t.Fatalf("txn: %v", resp)
	}
	r := resp.GetResponses()
	if rr := r[0].GetResponseRange(); fmtKVs(rr.GetKvs()) != "a=1@2/2/1" || rr.GetCount() != 1 || rr.GetHeader().GetRevision() != 3 {
		t.Fatalf("range: %v", rr)
	}
	if pr := r[1].GetResponsePut(); pr.GetHeader().GetRevision() != 4 || pr.GetPrevKv() != nil {
		t.Fatalf("put: %v", pr)
	}
	if dr := r[2].GetResponseDeleteRange(); dr.GetDeleted() != 1 || fmtKVs(dr.GetPrevKvs()) != "b=2@3/3/1" || dr.GetHeader().GetRevision() != 4 {
		t.Fatalf("delete: %v", dr)
	}
	nested := r[3].GetResponseTxn()
	if !nested.GetSucceeded() || nested.GetHeader().GetRevision() != 0 || len(nested.GetResponses()) != 1 {
		t.Fatalf("nested txn: %v", nested)
	}
	// the nested range sees the put made earlier in the same txn
	if nr := nested.GetResponses()[0].GetResponseRange(); fmtKVs(nr.GetKvs()) != "c=else@4/4/1" || nr.GetHeader().GetRevision() != 4 {
		t.Fatalf("nested range: %v", nr)
	}
	if got := h.dump(); got != "a=1@2/2/1 c=else@4/4/1" {
		t.Fatalf("after: %s", got)
	}

	// Empty branches: the txn answers no responses.
	resp = h.mustTxn(&pb.TxnRequest{Compare: []*pb.Compare{cmpVersion("a", pb.Compare_EQUAL, 1)}})
	if !resp.GetSucceeded() || len(resp.GetResponses()) != 0 || resp.GetHeader().GetRevision() != 4 {
		t.Fatalf("empty txn: %v", resp)
	}
}

func TestTxnOneRevisionReadYourWrites(t *testing.T) {
	h := newHarness(t)
	h.put("x", "old") // 2
	h.put("z", "zz")  // 3
	resp := h.mustTxn(&pb.TxnRequest{Success: []*pb.RequestOp{
		opDel("nothing", ""), // deletes nothing before any write: current revision
		opGet("x", ""),
		opPut("x", "new"),
		opGet("x", ""),
		opPut("y", "1"),
		opDel("z", ""),
		opGet("\x00", "\x00"),
		opDel("nothing", ""), // deletes nothing after writes: the txn's revision
	}})
	r := resp.GetResponses()
	if !resp.GetSucceeded() || resp.GetHeader().GetRevision() != 4 || len(r) != 8 || h.store.Rev() != 4 {
		t.Fatalf("txn: %v, store at %d", resp, h.store.Rev())
	}
	check := func(i int, got string, rev, want int64, wantStr string) {
		t.Helper()
		if got != wantStr || rev != want {
			t.Errorf("op %d: %q at %d, want %q at %d", i, got, rev, wantStr, want)
		}
	}
	check(0, fmt.Sprint(r[0].GetResponseDeleteRange().GetDeleted()), r[0].GetResponseDeleteRange().GetHeader().GetRevision(), 3, "0")
	check(1, fmtKVs(r[1].GetResponseRange().GetKvs()), r[1].GetResponseRange().GetHeader().GetRevision(), 3, "x=old@2/2/1")
	check(2, fmtKVs([]*mvccpb.KeyValue{r[2].GetResponsePut().GetPrevKv()}), r[2].GetResponsePut().GetHeader().GetRevision(), 4, "x=old@2/2/1")
	check(3, fmtKVs(r[3].GetResponseRange().GetKvs()), r[3].GetResponseRange().GetHeader().GetRevision(), 4, "x=new@2/4/2")
	check(4, fmt.Sprint(r[4].GetResponsePut().GetPrevKv()), r[4].GetResponsePut().GetHeader().GetRevision(), 4, "<nil>")
	check(5, fmtKVs(r[5].GetResponseDeleteRange().GetPrevKvs()), r[5].GetResponseDeleteRange().GetHeader().GetRevision(), 4, "z=zz@3/3/1")
	check(6, fmtKVs(r[6].GetResponseRange().GetKvs()), r[6].GetResponseRange().GetHeader().GetRevision(), 4, "x=new@2/4/2 y=1@4/4/1")
	check(7, fmt.Sprint(r[7].GetResponseDeleteRange().GetDeleted()), r[7].GetResponseDeleteRange().GetHeader().GetRevision(), 4, "0")
	if got := h.dump(); got != "x=new@2/4/2 y=1@4/4/1" {
		t.Fatalf("after: %s", got)
	}
	// The sub-responses carry only the revision; the API layer fills the
	// top-level header alone.
	if hd := r[3].GetResponseRange().GetHeader(); hd.GetClusterId() != 0 || hd.GetMemberId() != 0 || hd.GetRaftTerm() != 0 {
		t.Fatalf("sub-response header %v", hd)
	}
}

// TestTxnNestedComparesSeePreTxnState pins etcd's rule that every compare,
// nested ones included, is evaluated before the txn writes anything.
func TestTxnNestedComparesSeePreTxnState(t *testing.T) {
	h := newHarness(t)
	resp := h.mustTxn(&pb.TxnRequest{Success: []*pb.RequestOp{
		opPut("x", "1"),
		opTxn(&pb.TxnRequest{
			Compare: []*pb.Compare{cmpVersion("x", pb.Compare_EQUAL, 0)},
			Success: []*pb.RequestOp{opPut("y", "then")},
			Failure: []*pb.RequestOp{opPut("y", "else")},
		}),
		opTxn(&pb.TxnRequest{
			Compare: []*pb.Compare{cmpVersion("x", pb.Compare_EQUAL, 1)},
			Success: []*pb.RequestOp{opPut("z", "then")},
			Failure: []*pb.RequestOp{opPut("z", "else")},
		}),
	}})
	r := resp.GetResponses()
	if !r[1].GetResponseTxn().GetSucceeded() || r[2].GetResponseTxn().GetSucceeded() {
		t.Fatalf("nested: %v", resp)
	}
	if got := h.dump(); got != "x=1@2/2/1 y=then@2/2/1 z=else@2/2/1" {
		t.Fatalf("after: %s", got)
	}

	// Deeper nesting: the path through the nested txns is followed in order.
	resp = h.mustTxn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpVersion("x", pb.Compare_EQUAL, 1)},
		Success: []*pb.RequestOp{
			opTxn(&pb.TxnRequest{
				Compare: []*pb.Compare{cmpValue("y", pb.Compare_EQUAL, "then")},
				Success: []*pb.RequestOp{
					opTxn(&pb.TxnRequest{
						Compare: []*pb.Compare{cmpValue("z", pb.Compare_EQUAL, "then")},
						Success: []*pb.RequestOp{opPut("p", "wrong")},
						Failure: []*pb.RequestOp{opPut("p", "1"), opGet("p", "")},
					}),
					opPut("q", "1"),
				},
			}),
			opTxn(&pb.TxnRequest{
				Compare: []*pb.Compare{cmpVersion("nope", pb.Compare_GREATER, 0)},
				Failure: []*pb.RequestOp{opPut("r", "1")},
			}),
		},
	})
	if got := h.dump(); got != "p=1@3/3/1 q=1@3/3/1 r=1@3/3/1 x=1@2/2/1 y=then@2/2/1 z=else@2/2/1" {
		t.Fatalf("after the nested txn: %s", got)
	}
	deep := resp.GetResponses()[0].GetResponseTxn().GetResponses()[0].GetResponseTxn()
	if deep.GetSucceeded() || len(deep.GetResponses()) != 2 || fmtKVs(deep.GetResponses()[1].GetResponseRange().GetKvs()) != "p=1@3/3/1" {
		t.Fatalf("deep: %v", deep)
	}
	if second := resp.GetResponses()[1].GetResponseTxn(); second.GetSucceeded() || len(second.GetResponses()) != 1 {
		t.Fatalf("second nested: %v", second)
	}
}

// TestTxnFailingOpWritesNothing: an op of the chosen path that fails on the
// store's state fails the whole txn, checked in op order before anything
// is written, exactly as etcd's checkTxn.
func TestTxnFailingOpWritesNothing(t *testing.T) {
	h := newHarness(t)
	h.put("k", "v1")    // 2
	h.put("k", "v2")    // 3
	h.put("other", "o") // 4
	if _, err := h.compact(3); err != nil {
		t.Fatal(err)
	}
	before := h.dump()
	getAt := func(rev int64) *pb.RequestOp {
		return opRange(&pb.RangeRequest{Key: []byte("k"), Revision: rev})
	}
	leased := opPutReq(&pb.PutRequest{Key: []byte("b"), Value: []byte("v"), Lease: 3})
	ignore := opPutReq(&pb.PutRequest{Key: []byte("missing"), IgnoreValue: true})
	for _, tc := range []struct {
		name string
		txn  *pb.TxnRequest
		want *etcderr.Error
	}{
		{"compacted range after a put", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), getAt(2)}}, etcderr.Compacted},
		{"compacted count", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opRange(&pb.RangeRequest{Key: []byte("k"), Revision: 1, CountOnly: true})}}, etcderr.Compacted},
		{"future range after a put", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), getAt(5)}}, etcderr.FutureRev},
		{"ignore_value on a missing key", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), ignore}}, etcderr.KeyNotFound},
		{"ignore_lease on a missing key", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opPutReq(&pb.PutRequest{Key: []byte("m"), IgnoreLease: true})}}, etcderr.KeyNotFound},
		{"lease", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), leased}}, etcderr.LeaseNotFound},
		{"lease before compacted, in op order", &pb.TxnRequest{Success: []*pb.RequestOp{leased, getAt(2)}}, etcderr.LeaseNotFound},
		{"compacted before lease, in op order", &pb.TxnRequest{Success: []*pb.RequestOp{getAt(2), leased}}, etcderr.Compacted},
		{"lease before missing key in one put", &pb.TxnRequest{Success: []*pb.RequestOp{opPutReq(&pb.PutRequest{Key: []byte("missing"), IgnoreValue: true, Lease: 3})}}, etcderr.LeaseNotFound},
		{"in a nested txn", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{getAt(1)}})}}, etcderr.Compacted},
		{"in the chosen failure branch", &pb.TxnRequest{
			Compare: []*pb.Compare{cmpVersion("k", pb.Compare_EQUAL, 99)},
			Success: []*pb.RequestOp{opPut("a", "1")},
			Failure: []*pb.RequestOp{opPut("a", "1"), ignore},
		}, etcderr.KeyNotFound},
		{"in a nested failure branch", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opTxn(&pb.TxnRequest{
			Compare: []*pb.Compare{cmpVersion("k", pb.Compare_EQUAL, 99)},
			Failure: []*pb.RequestOp{leased},
		})}}, etcderr.LeaseNotFound},
		// etcd's checkRange compares any non-zero revision with the compact
		// revision: a negative one is "compacted" once anything was.
		{"negative revision after a compaction", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), getAt(-1)}}, etcderr.Compacted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.txn(tc.txn)
			wantErr(t, "txn", err, tc.want)
			if h.store.Rev() != 4 || h.dump() != before {
				t.Fatalf("a failed txn changed the store: rev %d, %s", h.store.Rev(), h.dump())
			}
			if !apply.IsReadOnly(tc.txn) {
				return
			}
			_, err = h.readTxn(tc.txn)
			wantErr(t, "read-only txn", err, tc.want)
		})
	}
	for _, tc := range []struct {
		name string
		txn  *pb.TxnRequest
	}{
		{"the compact revision itself", &pb.TxnRequest{Success: []*pb.RequestOp{getAt(3)}}},
		{"the current revision", &pb.TxnRequest{Success: []*pb.RequestOp{getAt(4)}}},
		{"only the chosen branch is checked", &pb.TxnRequest{
			Compare: []*pb.Compare{cmpVersion("k", pb.Compare_EQUAL, 99)},
			Success: []*pb.RequestOp{getAt(1), ignore, leased},
		}},
		{"only the chosen nested branch is checked", &pb.TxnRequest{Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{
			Compare: []*pb.Compare{cmpVersion("k", pb.Compare_EQUAL, 2)},
			Success: []*pb.RequestOp{getAt(4)},
			Failure: []*pb.RequestOp{getAt(1), ignore, leased},
		})}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := h.txn(tc.txn); err != nil {
				t.Fatalf("txn: %v", err)
			}
			if _, err := h.readTxn(tc.txn); err != nil {
				t.Fatalf("read-only txn: %v", err)
			}
		})
	}
	// The range at the current revision inside a writing txn reads the
	// state before the txn, a range at the txn's own revision is future.
	resp := h.mustTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("k", "v3"), getAt(4), opGet("k", "")}})
	if got := fmtKVs(resp.GetResponses()[1].GetResponseRange().GetKvs()); got != "k=v2@2/3/2" {
		t.Fatalf("range at 4 inside the txn: %s", got)
	}
	if got := fmtKVs(resp.GetResponses()[2].GetResponseRange().GetKvs()); got != "k=v3@2/5/3" {
		t.Fatalf("range at latest inside the txn: %s", got)
	}
	_, err := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("k", "v4"), getAt(6)}})
	wantErr(t, "range at the txn's own revision", err, etcderr.FutureRev)
}

func TestTxnNegativeRevisionBeforeAnyCompaction(t *testing.T) {
	h := newHarness(t)
	h.put("k", "v") // 2
	get := func(rev int64) *pb.TxnRequest {
		return &pb.TxnRequest{Success: []*pb.RequestOp{opRange(&pb.RangeRequest{Key: []byte("k"), Revision: rev})}}
	}
	// The compact revision starts at -1: -1 passes (and reads the latest),
	// anything below fails as compacted.
	for _, run := range []func(*pb.TxnRequest) (*pb.TxnResponse, error){h.txn, h.readTxn} {
		resp, err := run(get(-1))
		if err != nil || fmtKVs(resp.GetResponses()[0].GetResponseRange().GetKvs()) != "k=v@2/2/1" {
			t.Fatalf("revision -1: %v %v", resp, err)
		}
		_, err = run(get(-2))
		wantErr(t, "revision -2", err, etcderr.Compacted)
	}
	// A compaction at 0 is accepted (as by etcd) and moves the bound.
	if _, err := h.compact(0); err != nil {
		t.Fatalf("compact 0: %v", err)
	}
	for _, run := range []func(*pb.TxnRequest) (*pb.TxnResponse, error){h.txn, h.readTxn} {
		_, err := run(get(-1))
		wantErr(t, "revision -1 after compacting 0", err, etcderr.Compacted)
	}
	// a plain Range still reads the latest
	if resp := h.mustGet(&pb.RangeRequest{Key: []byte("k"), Revision: -1}); len(resp.GetKvs()) != 1 {
		t.Fatalf("plain range at -1: %v", resp)
	}
}

func TestReadOnlyTxn(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1") // 2
	h.put("b", "2") // 3
	req := &pb.TxnRequest{
		Compare: []*pb.Compare{cmpValue("a", pb.Compare_EQUAL, "1")},
		Success: []*pb.RequestOp{
			opGet("a", "c"),
			opTxn(&pb.TxnRequest{Failure: []*pb.RequestOp{opGet("b", "")}, Compare: []*pb.Compare{cmpVersion("b", pb.Compare_EQUAL, 9)}}),
			opRange(&pb.RangeRequest{Key: []byte("a"), Revision: 2}),
		},
	}
	if !apply.IsReadOnly(req) {
		t.Fatal("IsReadOnly: false")
	}
	ro, err := h.readTxn(req)
	if err != nil {
		t.Fatal(err)
	}
	viaRaft := h.mustTxn(req)
	if !proto.Equal(ro, viaRaft) {
		t.Fatalf("read view and apply differ:\n%v\n%v", ro, viaRaft)
	}
	if ro.GetHeader().GetRevision() != 3 || !ro.GetSucceeded() || keysOf(ro.GetResponses()[0].GetResponseRange().GetKvs()) != "a,b" {
		t.Fatalf("read-only txn: %v", ro)
	}
	if h.store.Rev() != 3 {
		t.Fatalf("a read-only txn moved the revision to %d", h.store.Rev())
	}
}

func TestIsReadOnlyIsSerializable(t *testing.T) {
	ser := func(key string) *pb.RequestOp {
		return opRange(&pb.RangeRequest{Key: []byte(key), Serializable: true})
	}
	for _, tc := range []struct {
		name     string
		req      *pb.TxnRequest
		ro, serz bool
	}{
		{"empty", &pb.TxnRequest{}, true, true},
		{"ranges", &pb.TxnRequest{Success: []*pb.RequestOp{opGet("a", "")}, Failure: []*pb.RequestOp{ser("b")}}, true, false},
		{"serializable ranges", &pb.TxnRequest{Success: []*pb.RequestOp{ser("a")}, Failure: []*pb.RequestOp{ser("b")}}, true, true},
		{"put", &pb.TxnRequest{Success: []*pb.RequestOp{ser("a"), opPut("a", "")}}, false, false},
		{"delete in failure", &pb.TxnRequest{Failure: []*pb.RequestOp{opDel("a", "")}}, false, true},
		{"nested read-only", &pb.TxnRequest{Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{ser("a")}})}}, true, true},
		{"nested put", &pb.TxnRequest{Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{Failure: []*pb.RequestOp{opPut("a", "")}})}}, false, true},
		{"nested linearizable", &pb.TxnRequest{Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opGet("a", "")}})}}, true, false},
	} {
		if got := apply.IsReadOnly(tc.req); got != tc.ro {
			t.Errorf("%s: IsReadOnly %v, want %v", tc.name, got, tc.ro)
		}
		if tc.ro {
			if got := apply.IsSerializable(tc.req); got != tc.serz {
				t.Errorf("%s: IsSerializable %v, want %v", tc.name, got, tc.serz)
			}
		}
	}
}
