package apply_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/etcderr"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

func putKV(key, val string) *chainfirev1.RaftCommand {
	return putCmd(&pb.PutRequest{Key: []byte(key), Value: []byte(val)})
}

func TestApplyBatchConsecutiveRevisions(t *testing.T) {
	h := newHarness(t)
	res := h.batch(
		putKV("a", "1"),
		putKV("b", "2"),
		delCmd(&pb.DeleteRangeRequest{Key: []byte("zz")}), // nothing: no revision
		txnCmd(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("c", "3"), opPut("d", "4"), opGet("a", "")}}),
		putCmd(&pb.PutRequest{Key: []byte("missing"), IgnoreValue: true}), // fails: no revision
		delCmd(&pb.DeleteRangeRequest{Key: []byte("a")}),
		putKV("a", "5"),
	)
	wantRevs := []int64{2, 3, 3, 4, 0, 5, 6}
	for i, r := range res {
		if i == 4 {
			wantErr(t, "ignore_value in the batch", r.Err, etcderr.KeyNotFound)
			continue
		}
		if r.Err != nil {
			t.Fatalf("entry %d: %v", i, r.Err)
		}
		rev := r.Response.(interface{ GetHeader() *pb.ResponseHeader }).GetHeader().GetRevision()
		if rev != wantRevs[i] {
			t.Errorf("entry %d: header revision %d, want %d", i, rev, wantRevs[i])
		}
	}
	// the txn's range saw the earlier entries of the same batch
	if got := keysOf(res[3].Response.(*pb.TxnResponse).GetResponses()[2].GetResponseRange().GetKvs()); got != "a" {
		t.Fatalf("txn range: %q", got)
	}
	if got := h.dump(); got != "a=5@6/6/1 b=2@3/3/1 c=3@4/4/1 d=4@4/4/1" {
		t.Fatalf("after the batch: %s", got)
	}
	if h.store.AppliedIndex() != h.index || h.a.AppliedIndex() != h.index {
		t.Fatalf("applied index store %d applier %d, want %d", h.store.AppliedIndex(), h.a.AppliedIndex(), h.index)
	}
}

func TestApplyBatchSkipsAppliedEntries(t *testing.T) {
	h := newHarness(t)
	logs := h.logs(putKV("a", "1"), putKV("b", "1"), putKV("a", "2"))
	h.a.ApplyBatch(logs)
	hash, err := h.store.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	state := h.dump()

	check := func(when string) {
		t.Helper()
		got, err := h.store.HashKV(0)
		if err != nil {
			t.Fatal(err)
		}
		if got != hash || h.dump() != state || h.store.AppliedIndex() != 3 {
			t.Fatalf("%s: hash %+v state %s applied %d, want %+v %s 3", when, got, h.dump(), h.store.AppliedIndex(), hash, state)
		}
	}

	// the same batch again: every entry is at or below the applied index
	for i, r := range h.a.ApplyBatch(logs) {
		if r != nil {
			t.Fatalf("replayed entry %d answered %v", i, r)
		}
	}
	check("replay")

	// after a restart, with a new Applier over the reopened store
	h.restart()
	if h.a.AppliedIndex() != 3 {
		t.Fatalf("applier after restart at %d, want 3", h.a.AppliedIndex())
	}
	h.a.ApplyBatch(logs)
	h.a.Apply(logs[1])
	check("replay after restart")

	// a batch overlapping the applied index applies only the new entries
	more := append(logs[1:], h.logs(putKV("c", "1"))...)
	res := h.a.ApplyBatch(more)
	if res[0] != nil || res[1] != nil || res[2] == nil {
		t.Fatalf("overlapping batch results %v", res)
	}
	if got := h.dump(); got != "a=2@2/4/2 b=1@3/3/1 c=1@5/5/1" || h.store.AppliedIndex() != 4 {
		t.Fatalf("after the overlapping batch: %s at %d", got, h.store.AppliedIndex())
	}
}

func TestApplyBatchBadEntries(t *testing.T) {
	h := newHarness(t)
	good := h.logs(putKV("a", "1"))[0]
	h.index++
	garbage := &raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand, Data: []byte{0xff, 0xff, 0xff}}
	h.index++
	empty := &raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand} // a new leader's empty entry
	h.index++
	noop := &raft.Log{Index: h.index, Term: 1, Type: raft.LogNoop}
	h.index++
	conf := &raft.Log{Index: h.index, Term: 1, Type: raft.LogConfiguration, Data: []byte("not a command")}
	// A command that decodes but sets no known command (a newer version's,
	// say): only an unknown field.
	h.index++
	unknown := &raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand, Data: protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), []byte("x"))}
	last := h.logs(putKV("b", "2"))[0]

	res := h.a.ApplyBatch([]*raft.Log{good, garbage, empty, noop, conf, unknown, last})
	if r := res[0].(*apply.Result); r.Err != nil || r.Response.(*pb.PutResponse).GetHeader().GetRevision() != 2 {
		t.Fatalf("good entry: %+v", r)
	}
	if r := res[1].(*apply.Result); r.Err == nil || r.Response != nil {
		t.Fatalf("undecodable entry: %+v", r)
	}
	if res[2] != nil {
		t.Fatalf("empty entry: %#v", res[2])
	}
	if res[3] != nil || res[4] != nil {
		t.Fatalf("non-command entries: %v %v", res[3], res[4])
	}
	if r := res[5].(*apply.Result); r.Err == nil {
		t.Fatalf("unknown command: %+v", r)
	}
	if r := res[6].(*apply.Result); r.Err != nil || r.Response.(*pb.PutResponse).GetHeader().GetRevision() != 3 {
		t.Fatalf("entry after the bad ones: %+v", r)
	}
	if got := h.dump(); got != "a=1@2/2/1 b=2@3/3/1" || h.store.AppliedIndex() != h.index {
		t.Fatalf("after: %s at %d, want index %d", got, h.store.AppliedIndex(), h.index)
	}
	// A batch of nothing but skipped entries still advances the index.
	h.index++
	h.a.ApplyBatch([]*raft.Log{{Index: h.index, Term: 2, Type: raft.LogNoop}})
	if h.a.AppliedIndex() != h.index || h.store.AppliedTerm() != 2 {
		t.Fatalf("applied %d term %d, want %d 2", h.a.AppliedIndex(), h.store.AppliedTerm(), h.index)
	}
}

func TestWaitApplied(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1") // index 1
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.a.WaitApplied(ctx, 1); err != nil {
		t.Fatalf("already applied: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- h.a.WaitApplied(ctx, 3) }()
	h.put("b", "1") // index 2: not enough
	select {
	case err := <-done:
		t.Fatalf("returned at index 2: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	h.batch(putKV("c", "1"), putKV("d", "1")) // up to 4
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("WaitApplied did not return")
	}

	short, cancelShort := context.WithCancel(context.Background())
	go func() { done <- h.a.WaitApplied(short, 100) }()
	cancelShort()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled wait: %v", err)
	}
}

func TestCompaction(t *testing.T) {
	h := newHarness(t)
	h.put("k", "1") // 2
	h.put("k", "2") // 3
	h.put("k", "3") // 4

	_, err := h.compact(5)
	wantErr(t, "compact in the future", err, etcderr.FutureRev)
	resp, err := h.compact(3)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetHeader().GetRevision() != 4 || h.store.CompactRev() != 3 || h.store.Rev() != 4 {
		t.Fatalf("compact: %v, compact rev %d", resp, h.store.CompactRev())
	}
	for _, rev := range []int64{3, 2, -1} {
		_, err := h.compact(rev)
		wantErr(t, "compact at or below the compact revision", err, etcderr.Compacted)
	}
	if _, err := h.compact(4); err != nil {
		t.Fatalf("compact at the current revision: %v", err)
	}

	// In one batch: a compaction, then reads of what it compacted, and a
	// second compaction of the same revision.
	h.put("k", "4") // 5
	res := h.batch(
		compactCmd(5),
		txnCmd(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "1"), opRange(&pb.RangeRequest{Key: []byte("k"), Revision: 4})}}),
		txnCmd(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "1"), opRange(&pb.RangeRequest{Key: []byte("k"), Revision: -1})}}),
		compactCmd(5),
		txnCmd(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "2"), opRange(&pb.RangeRequest{Key: []byte("k"), Revision: 5})}}),
	)
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	wantErr(t, "range below a compaction earlier in the batch", res[1].Err, etcderr.Compacted)
	wantErr(t, "negative range after a compaction earlier in the batch", res[2].Err, etcderr.Compacted)
	wantErr(t, "second compaction in the batch", res[3].Err, etcderr.Compacted)
	if res[4].Err != nil {
		t.Fatalf("range at the compact revision: %v", res[4].Err)
	}
	if got := h.dump(); got != "k=4@2/5/4 x=2@6/6/1" {
		t.Fatalf("after: %s", got)
	}
	// the compaction survives a restart
	h.restart()
	if h.store.CompactRev() != 5 {
		t.Fatalf("compact rev after restart %d", h.store.CompactRev())
	}
	_, err = h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opRange(&pb.RangeRequest{Key: []byte("k"), Revision: -1})}})
	wantErr(t, "negative revision after restart", err, etcderr.Compacted)
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, canceled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.canceled = true; return nil }

func TestSnapshotRestore(t *testing.T) {
	src := newHarness(t)
	attrs := []*chainfirev1.MemberAttributes{
		{Id: 7, Name: "seven", ClientUrls: []string{"http://127.0.0.1:7"}, PeerUrls: []string{"http://127.0.0.1:70"}},
		{Id: 3, Name: "three", ClientUrls: []string{"http://127.0.0.1:3"}},
	}
	for _, a := range attrs {
		res := src.batch(&chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_PublishAttributes{PublishAttributes: a}})
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	for i := range 20 {
		src.put(string(rune('a'+i%5)), string(rune('0'+i)))
	}
	if _, err := src.del("b", "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.compact(10); err != nil {
		t.Fatal(err)
	}

	snapRev, snapIndex, snapDump := src.store.Rev(), src.index, src.dump()
	snap, err := src.a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Applying more after the snapshot was taken does not change it.
	src.put("late", "x")
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed || sink.canceled {
		t.Fatalf("sink closed %v canceled %v", sink.closed, sink.canceled)
	}

	dst := newHarness(t)
	dst.put("stale", "data") // replaced by the restore
	if err := dst.a.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	srcHash, err := src.store.HashKV(snapRev)
	if err != nil {
		t.Fatal(err)
	}
	dstHash, err := dst.store.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	if srcHash != dstHash || dstHash.Revision != snapRev {
		t.Fatalf("HashKV: source %+v, restored %+v", srcHash, dstHash)
	}
	if dst.store.CompactRev() != 10 || dst.a.AppliedIndex() != snapIndex || dst.store.Rev() != snapRev {
		t.Fatalf("restored compact rev %d applied %d rev %d, want 10 %d %d", dst.store.CompactRev(), dst.a.AppliedIndex(), dst.store.Rev(), snapIndex, snapRev)
	}
	want := src.a.Members().List()
	got := dst.a.Members().List()
	if len(got) != 2 || len(want) != 2 || got[0].GetId() != 3 || got[1].GetId() != 7 {
		t.Fatalf("members: %v", got)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("member %d: %v, want %v", i, got[i], want[i])
		}
	}
	if m, ok := dst.a.Members().Get(7); !ok || m.GetName() != "seven" {
		t.Fatalf("Get(7): %v %v", m, ok)
	}
	if dump := dst.dump(); dump != snapDump || dump == "" {
		t.Fatalf("restored data: %s", dump)
	}

	// WaitApplied wakes up for the restored index, and applying continues.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := dst.a.WaitApplied(ctx, snapIndex); err != nil {
		t.Fatal(err)
	}
	dst.index = dst.a.AppliedIndex()
	if rev := dst.put("after", "restore"); rev != snapRev+1 {
		t.Fatalf("first write after the restore at %d, want %d", rev, snapRev+1)
	}
	// The members table and data survive a restart of the restored store.
	dst.restart()
	if got := dst.a.Members().List(); len(got) != 2 {
		t.Fatalf("members after restart: %v", got)
	}
}
