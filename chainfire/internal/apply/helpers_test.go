package apply_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/mvccpb"
)

// harness is an Applier over a store in a temp dir, driven the way Raft
// drives it: ApplyBatch with consecutive log indexes.
type harness struct {
	t     testing.TB
	path  string
	store *mvcc.Store
	a     *apply.Applier
	index uint64 // last index handed to ApplyBatch
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "db")}
	h.open()
	t.Cleanup(func() { _ = h.store.Close() })
	return h
}

func (h *harness) open() {
	h.t.Helper()
	s, err := mvcc.Open(h.path, mvcc.Options{InitialMmapSize: -1})
	if err != nil {
		h.t.Fatalf("mvcc.Open: %v", err)
	}
	a, err := apply.New(s, nil)
	if err != nil {
		h.t.Fatalf("apply.New: %v", err)
	}
	h.store, h.a = s, a
}

// restart closes the store and opens it again with a new Applier, as a
// member does after a crash; the log index carries on from h.index.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.store.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	h.open()
}

func marshal(t testing.TB, cmd *chainfirev1.RaftCommand) []byte {
	t.Helper()
	data, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return data
}

// logs turns cmds into log entries with the next indexes.
func (h *harness) logs(cmds ...*chainfirev1.RaftCommand) []*raft.Log {
	out := make([]*raft.Log, len(cmds))
	for i, c := range cmds {
		h.index++
		out[i] = &raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand, Data: marshal(h.t, c)}
	}
	return out
}

// batch applies cmds as one Raft batch and returns their results.
func (h *harness) batch(cmds ...*chainfirev1.RaftCommand) []*apply.Result {
	h.t.Helper()
	raw := h.a.ApplyBatch(h.logs(cmds...))
	out := make([]*apply.Result, len(raw))
	for i, r := range raw {
		res, ok := r.(*apply.Result)
		if !ok || res == nil {
			h.t.Fatalf("entry %d: result %#v, want *apply.Result", i, r)
		}
		out[i] = res
	}
	return out
}

// do applies one command and returns its response and error.
func (h *harness) do(cmd *chainfirev1.RaftCommand) (proto.Message, error) {
	h.t.Helper()
	r := h.batch(cmd)[0]
	return r.Response, r.Err
}

func putCmd(r *pb.PutRequest) *chainfirev1.RaftCommand {
	return &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Put{Put: r}}
}

func delCmd(r *pb.DeleteRangeRequest) *chainfirev1.RaftCommand {
	return &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_DeleteRange{DeleteRange: r}}
}

func txnCmd(r *pb.TxnRequest) *chainfirev1.RaftCommand {
	return &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Txn{Txn: r}}
}

func compactCmd(rev int64) *chainfirev1.RaftCommand {
	return &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Compaction{Compaction: &pb.CompactionRequest{Revision: rev}}}
}

func (h *harness) putReq(r *pb.PutRequest) (*pb.PutResponse, error) {
	h.t.Helper()
	resp, err := h.do(putCmd(r))
	if err != nil {
		return nil, err
	}
	return resp.(*pb.PutResponse), nil
}

// put writes key=val and returns the new revision.
func (h *harness) put(key, val string) int64 {
	h.t.Helper()
	resp, err := h.putReq(&pb.PutRequest{Key: []byte(key), Value: []byte(val)})
	if err != nil {
		h.t.Fatalf("put %q: %v", key, err)
	}
	return resp.GetHeader().GetRevision()
}

func (h *harness) del(key, end string) (*pb.DeleteRangeResponse, error) {
	h.t.Helper()
	resp, err := h.do(delCmd(&pb.DeleteRangeRequest{Key: []byte(key), RangeEnd: bs(end), PrevKv: true}))
	if err != nil {
		return nil, err
	}
	return resp.(*pb.DeleteRangeResponse), nil
}

func (h *harness) txn(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	h.t.Helper()
	resp, err := h.do(txnCmd(r))
	if err != nil {
		return nil, err
	}
	return resp.(*pb.TxnResponse), nil
}

func (h *harness) mustTxn(r *pb.TxnRequest) *pb.TxnResponse {
	h.t.Helper()
	resp, err := h.txn(r)
	if err != nil {
		h.t.Fatalf("txn: %v", err)
	}
	return resp
}

func (h *harness) compact(rev int64) (*pb.CompactionResponse, error) {
	h.t.Helper()
	resp, err := h.do(compactCmd(rev))
	if err != nil {
		return nil, err
	}
	return resp.(*pb.CompactionResponse), nil
}

// get ranges over the committed store, as the API's Range does.
func (h *harness) get(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	return apply.Range(h.store, r)
}

func (h *harness) mustGet(r *pb.RangeRequest) *pb.RangeResponse {
	h.t.Helper()
	resp, err := h.get(r)
	if err != nil {
		h.t.Fatalf("range %q..%q: %v", r.GetKey(), r.GetRangeEnd(), err)
	}
	return resp
}

// readTxn runs a read-only txn from a read view, as the API does.
func (h *harness) readTxn(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	var resp *pb.TxnResponse
	err := h.store.Read(func(view *mvcc.ReadTxn) error {
		var err error
		resp, err = apply.ReadOnlyTxn(view, view.Rev(), h.store.CompactRev(), r)
		return err
	})
	return resp, err
}

// dump is every live key as "k=v@create/mod/version", in key order.
func (h *harness) dump() string {
	h.t.Helper()
	return fmtKVs(h.mustGet(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}).GetKvs())
}

func fmtKVs(kvs []*mvccpb.KeyValue) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = fmt.Sprintf("%s=%s@%d/%d/%d", kv.GetKey(), kv.GetValue(), kv.GetCreateRevision(), kv.GetModRevision(), kv.GetVersion())
	}
	return strings.Join(parts, " ")
}

func keysOf(kvs []*mvccpb.KeyValue) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = string(kv.GetKey())
	}
	return strings.Join(parts, ",")
}

// bs is s as bytes, nil for "" (an unset range_end).
func bs(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func wantErr(t testing.TB, what string, got error, want *etcderr.Error) {
	t.Helper()
	var e *etcderr.Error
	if !errors.As(got, &e) || e != want {
		t.Fatalf("%s: error %v, want %q", what, got, want.Msg)
	}
}

// Op builders for txns.

func opGet(key, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key), RangeEnd: bs(end)}}}
}

func opRange(r *pb.RangeRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: r}}
}

func opPut(key, val string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(val), PrevKv: true}}}
}

func opPutReq(r *pb.PutRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: r}}
}

func opDel(key, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key), RangeEnd: bs(end), PrevKv: true}}}
}

func opTxn(r *pb.TxnRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: r}}
}

func cmpVersion(key string, res pb.Compare_CompareResult, v int64) *pb.Compare {
	return &pb.Compare{Key: []byte(key), Target: pb.Compare_VERSION, Result: res, TargetUnion: &pb.Compare_Version{Version: v}}
}

func cmpValue(key string, res pb.Compare_CompareResult, v string) *pb.Compare {
	return &pb.Compare{Key: []byte(key), Target: pb.Compare_VALUE, Result: res, TargetUnion: &pb.Compare_Value{Value: []byte(v)}}
}
