package etcdapi

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// validationErrors are the only errors checkTxn may return.
var validationErrors = []*etcderr.Error{
	etcderr.EmptyKey, etcderr.InvalidSortOpt, etcderr.ValueProvided, etcderr.LeaseProvided,
	etcderr.TooManyOps, etcderr.DuplicateKey, etcderr.KeyNotFound,
}

func marshalTxn(f *testing.F, r *pb.TxnRequest) []byte {
	data, err := proto.Marshal(r)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

func txnSeeds(f *testing.F) {
	for _, r := range []*pb.TxnRequest{
		{},
		{Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_VALUE, TargetUnion: &pb.Compare_Value{Value: []byte("v")}}}, Success: ops(putOp("a")), Failure: ops(rangeOp("a", "b"))},
		{Success: ops(putOp("a"), delOp("a", "c"))},
		{Success: ops(delOp("b", "\x00"), putOp("z"))},
		{Success: ops(txnOp(ops(putOp("a")), ops(putOp("a"), delOp("b", ""))), putOp("c"))},
		{Success: ops(txnOp(ops(txnOp(ops(putOp("a")), ops(putOp("a")))), nil))},
		{Success: ops(&pb.RequestOp{}, putReqOp(&pb.PutRequest{Key: []byte("k"), IgnoreValue: true, Value: []byte("x")}))},
		{Success: nOps(5, func(int) *pb.RequestOp { return rangeOp("k", "") }), Failure: ops(txnOp(nOps(3, func(int) *pb.RequestOp { return rangeOp("k", "") }), nil))},
	} {
		f.Add(marshalTxn(f, r))
	}
}

// FuzzCheckTxn decodes arbitrary bytes as a TxnRequest and validates it:
// never a panic, always one of etcd's validation errors, the same answer
// every time, the request left as it was, and the duplicate-key answer
// equal to the slow reference's.
func FuzzCheckTxn(f *testing.F) {
	txnSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var req pb.TxnRequest
		if err := proto.Unmarshal(data, &req); err != nil {
			return
		}
		orig := proto.Clone(&req)
		for _, limit := range []int{DefaultMaxTxnOps, 4, 1} {
			err := checkTxn(&req, limit)
			if err != nil {
				var e *etcderr.Error
				if !errors.As(err, &e) || !slices.Contains(validationErrors, e) {
					t.Fatalf("limit %d: unexpected error %v", limit, err)
				}
			}
			if again := checkTxn(proto.Clone(&req).(*pb.TxnRequest), limit); again != err {
				t.Fatalf("limit %d: %v, then %v", limit, err, again)
			}
			if !proto.Equal(&req, orig) {
				t.Fatalf("checkTxn changed the request")
			}
			if checkTxnRequest(&req, limit) != nil {
				continue
			}
			_, _, d1 := refDuplicate(req.GetSuccess())
			_, _, d2 := refDuplicate(req.GetFailure())
			if want := d1 || d2; (err != nil) != want {
				t.Fatalf("limit %d: %v, the reference says duplicate=%v", limit, err, want)
			}
		}
	})
}

// testStore is a store with a known history for the range fuzzer:
// revisions 2..13 put fuzzKeys, 14 deletes two, 15 puts one back, and the
// store is compacted at 5.
var fuzzKeys = [][]byte{
	{0}, {0, 0}, {0, 0xff}, []byte("a"), []byte("a\x00"), []byte("a\xff"), []byte("ab"),
	[]byte("b"), {0xfe, 0xff}, {0xff}, {0xff, 0}, {0xff, 0xff},
}

const fuzzCompactRev = 5

func testStore(tb testing.TB, dir string) *mvcc.Store {
	store, err := mvcc.Open(filepath.Join(dir, "db"), mvcc.Options{InitialMmapSize: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = store.Close() })
	a, err := apply.New(store, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var cmds []*chainfirev1.RaftCommand
	for i, k := range fuzzKeys {
		cmds = append(cmds, &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Put{Put: &pb.PutRequest{Key: k, Value: []byte{byte('0' + i)}}}})
	}
	cmds = append(cmds,
		&chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_DeleteRange{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a\x00"), RangeEnd: []byte("ab")}}},
		&chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Put{Put: &pb.PutRequest{Key: []byte("a\xff"), Value: []byte("again")}}},
		&chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Compaction{Compaction: &pb.CompactionRequest{Revision: fuzzCompactRev}}},
	)
	logs := make([]*raft.Log, len(cmds))
	for i, c := range cmds {
		data, err := proto.Marshal(c)
		if err != nil {
			tb.Fatal(err)
		}
		logs[i] = &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: data}
	}
	for i, r := range a.ApplyBatch(logs) {
		if res := r.(*apply.Result); res.Err != nil {
			tb.Fatalf("setup entry %d: %v", i, res.Err)
		}
	}
	if store.Rev() != 15 || store.CompactRev() != fuzzCompactRev {
		tb.Fatalf("setup: revision %d compacted %d", store.Rev(), store.CompactRev())
	}
	return store
}

// inRange is etcd's range_end rule, written out.
func inRange(k, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(k, key)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(k, key) >= 0
	}
	return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
}

// FuzzRangeEnd sends arbitrary key, range_end, limit and revision through
// the API's validation and apply.Range on a small store: never a panic,
// errors only for revisions etcd rejects, every key inside the range, in
// ascending (or, asked for, descending) key order, at most limit of them,
// and exactly the keys a brute-force scan of the revision finds.
func FuzzRangeEnd(f *testing.F) {
	store := testStore(f, f.TempDir())
	for _, s := range []struct {
		key, end   string
		limit, rev int64
		flags      uint8
	}{
		{"a", "", 0, 0, 0},
		{"a", "b", 2, 0, 0},
		{"\x00", "\x00", 3, 0, 8},
		{"a", "\x00", 0, 7, 1},
		{"\xff", "\x00", 1, -1, 2},
		{"b", "a", 0, 0, 0},
		{"", "", 0, 0, 0},
		{"a", "b", 0, 4, 0},
		{"a", "b", 0, 16, 0},
		{"\x00", "\x00\x00", -5, 5, 4},
		{"a\x00", "ab", 9223372036854775807, 13, 0},
	} {
		f.Add([]byte(s.key), []byte(s.end), s.limit, s.rev, s.flags)
	}
	f.Fuzz(func(t *testing.T, key, end []byte, limit, rev int64, flags uint8) {
		req := &pb.RangeRequest{Key: key, RangeEnd: end, Limit: limit, Revision: rev,
			KeysOnly: flags&1 != 0, CountOnly: flags&2 != 0}
		desc := flags&8 != 0
		switch {
		case desc:
			req.SortOrder = pb.RangeRequest_DESCEND
		case flags&4 != 0:
			req.SortOrder = pb.RangeRequest_ASCEND
		}
		if err := checkRange(req); err != nil {
			if len(key) != 0 || !errors.Is(err, etcderr.EmptyKey) {
				t.Fatalf("checkRange: %v", err)
			}
			return
		}
		resp, err := apply.Range(store, req)
		cur := store.Rev()
		switch {
		case rev > cur:
			if !errors.Is(err, etcderr.FutureRev) {
				t.Fatalf("revision %d > %d: %v", rev, cur, err)
			}
			return
		case rev > 0 && rev < fuzzCompactRev:
			if !errors.Is(err, etcderr.Compacted) {
				t.Fatalf("revision %d < %d: %v", rev, fuzzCompactRev, err)
			}
			return
		case err != nil:
			t.Fatalf("range: %v", err)
		}
		if resp.GetHeader().GetRevision() != cur {
			t.Fatalf("header revision %d, want %d", resp.GetHeader().GetRevision(), cur)
		}

		all, err := apply.Range(store, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev})
		if err != nil {
			t.Fatal(err)
		}
		var want [][]byte
		for _, kv := range all.GetKvs() {
			if inRange(kv.GetKey(), key, end) {
				want = append(want, kv.GetKey())
			}
		}
		if resp.GetCount() != int64(len(want)) {
			t.Fatalf("count %d, brute force finds %d", resp.GetCount(), len(want))
		}
		if req.GetCountOnly() {
			if len(resp.GetKvs()) != 0 || resp.GetMore() {
				t.Fatalf("count_only: %d kvs, more %v", len(resp.GetKvs()), resp.GetMore())
			}
			return
		}
		if desc {
			slices.Reverse(want)
		}
		more := false
		if limit > 0 && int64(len(want)) > limit {
			want, more = want[:limit], true
		}
		if resp.GetMore() != more || len(resp.GetKvs()) != len(want) {
			t.Fatalf("%d kvs more %v, want %d %v", len(resp.GetKvs()), resp.GetMore(), len(want), more)
		}
		for i, kv := range resp.GetKvs() {
			k := kv.GetKey()
			if !inRange(k, key, end) {
				t.Fatalf("key %q outside [%q, %q)", k, key, end)
			}
			if !bytes.Equal(k, want[i]) {
				t.Fatalf("key %d: %q, want %q", i, k, want[i])
			}
			if i > 0 {
				c := bytes.Compare(resp.GetKvs()[i-1].GetKey(), k)
				if (!desc && c >= 0) || (desc && c <= 0) {
					t.Fatalf("keys out of order at %d: %q, %q", i, resp.GetKvs()[i-1].GetKey(), k)
				}
			}
			if req.GetKeysOnly() && len(kv.GetValue()) != 0 {
				t.Fatalf("keys_only returned a value for %q", k)
			}
			if !req.GetKeysOnly() && len(kv.GetValue()) == 0 {
				t.Fatalf("no value for %q", k)
			}
			if limit > 0 && int64(i) >= limit {
				t.Fatalf("more than %d kvs", limit)
			}
		}
	})
}

// applyErrors are the only errors applying a validated txn may return.
var applyErrors = []*etcderr.Error{etcderr.Compacted, etcderr.FutureRev, etcderr.KeyNotFound, etcderr.LeaseNotFound}

// FuzzTxnPipeline runs arbitrary txns the way the API does: validation,
// then, if valid, Raft apply (or the read view for read-only txns). It
// must never panic; a failing txn changes nothing; a read-only txn answers
// the same from a read view as through apply; every write txn takes at
// most one revision.
func FuzzTxnPipeline(f *testing.F) {
	txnSeeds(f)
	for _, r := range []*pb.TxnRequest{
		{Success: ops(putOp("a"), rangeOp("\x00", "\x00"), &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: 3}}})},
		{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: -1, SortTarget: pb.RangeRequest_VALUE}}})},
		{Compare: []*pb.Compare{{Key: []byte("a"), RangeEnd: []byte{0}, Target: pb.Compare_MOD, Result: pb.Compare_LESS, TargetUnion: &pb.Compare_ModRevision{ModRevision: 9}}},
			Success: ops(putReqOp(&pb.PutRequest{Key: []byte("b"), IgnoreValue: true, PrevKv: true}), delOp("a", "a\x00"))},
		{Failure: ops(putReqOp(&pb.PutRequest{Key: []byte("c"), Lease: 4}))},
	} {
		f.Add(marshalTxn(f, r))
	}
	store := testStore(f, f.TempDir())
	a, err := apply.New(store, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req pb.TxnRequest
		if err := proto.Unmarshal(data, &req); err != nil || checkTxn(&req, DefaultMaxTxnOps) != nil {
			return
		}
		var view *pb.TxnResponse
		var viewErr error
		readOnly := apply.IsReadOnly(&req)
		if readOnly {
			viewErr = store.Read(func(r *mvcc.ReadTxn) error {
				var err error
				view, err = apply.ReadOnlyTxn(r, r.Rev(), store.CompactRev(), &req)
				return err
			})
		}
		before := store.Rev()
		cmd, err := proto.Marshal(&chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Txn{Txn: &req}})
		if err != nil {
			t.Fatal(err)
		}
		index := a.AppliedIndex() + 1
		res := a.ApplyBatch([]*raft.Log{{Index: index, Term: 1, Type: raft.LogCommand, Data: cmd}})[0].(*apply.Result)
		if a.AppliedIndex() != index {
			t.Fatalf("applied index %d, want %d", a.AppliedIndex(), index)
		}
		if res.Err != nil {
			var e *etcderr.Error
			if !errors.As(res.Err, &e) || !slices.Contains(applyErrors, e) {
				t.Fatalf("apply: unexpected error %v", res.Err)
			}
			if store.Rev() != before {
				t.Fatalf("a failed txn moved the revision from %d to %d", before, store.Rev())
			}
		} else if rev := res.Response.(*pb.TxnResponse).GetHeader().GetRevision(); rev != store.Rev() || (rev != before && rev != before+1) {
			t.Fatalf("header revision %d, store %d, before %d", rev, store.Rev(), before)
		}
		if !readOnly {
			return
		}
		if store.Rev() != before {
			t.Fatalf("a read-only txn moved the revision")
		}
		if !errors.Is(viewErr, res.Err) || (viewErr == nil && !proto.Equal(view, res.Response)) {
			t.Fatalf("read view %v %v, apply %v %v", view, viewErr, res.Response, res.Err)
		}
	})
}
