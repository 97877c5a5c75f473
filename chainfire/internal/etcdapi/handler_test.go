package etcdapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/app"
	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/pkg/servertest"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// TestHandlerErrors runs a single-member Chainfire in-process and checks,
// over gRPC, that each error reaches the client with etcd's code and exact
// message, and that headers are filled as etcd fills them.
func TestHandlerErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a member")
	}
	addr, peer := servertest.FreeAddr(t), "http://"+servertest.FreeAddr(t)
	servertest.RunCommand(t, app.Command("test", "test"), addr,
		"--listen-client-urls", "http://"+addr, "--advertise-client-urls", "http://"+addr,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default="+peer, "--data-dir", t.TempDir(), "--log-level", "error")
	servertest.WaitReady(t, addr)
	kv := etcdserverpbconnect.NewKVClient(servertest.HTTP2Client(), "http://"+addr, connect.WithGRPC())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	wantErr := func(what string, err error, want *etcderr.Error) {
		t.Helper()
		var ce *connect.Error
		if !errors.As(err, &ce) {
			t.Fatalf("%s: error %v, want %q", what, err, want.Msg)
		}
		if ce.Code() != want.Code || ce.Message() != want.Msg {
			t.Fatalf("%s: %v %q, want %v %q", what, ce.Code(), ce.Message(), want.Code, want.Msg)
		}
	}
	put := func(key, val string) *pb.PutResponse {
		t.Helper()
		resp, err := kv.Put(ctx, connect.NewRequest(&pb.PutRequest{Key: []byte(key), Value: []byte(val)}))
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		return resp.Msg
	}

	first := put("k", "v1")
	h := first.GetHeader()
	if h.GetClusterId() == 0 || h.GetMemberId() == 0 || h.GetRaftTerm() == 0 || h.GetRevision() < 2 {
		t.Fatalf("put header %v", h)
	}
	r1 := h.GetRevision()
	put("k", "v2")
	put("k", "v3")
	r3 := r1 + 2

	// validation
	_, err := kv.Range(ctx, connect.NewRequest(&pb.RangeRequest{}))
	wantErr("range without a key", err, etcderr.EmptyKey)
	_, err = kv.Range(ctx, connect.NewRequest(&pb.RangeRequest{Key: []byte("k"), SortOrder: 5}))
	wantErr("invalid sort order", err, etcderr.InvalidSortOpt)
	_, err = kv.Put(ctx, connect.NewRequest(&pb.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true}))
	wantErr("ignore_value with a value", err, etcderr.ValueProvided)
	_, err = kv.Put(ctx, connect.NewRequest(&pb.PutRequest{Key: []byte("k"), Lease: 1, IgnoreLease: true}))
	wantErr("ignore_lease with a lease", err, etcderr.LeaseProvided)
	_, err = kv.DeleteRange(ctx, connect.NewRequest(&pb.DeleteRangeRequest{}))
	wantErr("delete without a key", err, etcderr.EmptyKey)
	_, err = kv.Txn(ctx, connect.NewRequest(&pb.TxnRequest{Success: []*pb.RequestOp{putOp("a"), putOp("a")}}))
	wantErr("duplicate key", err, etcderr.DuplicateKey)
	many := make([]*pb.Compare, 129)
	for i := range many {
		many[i] = &pb.Compare{Key: []byte("k")}
	}
	_, err = kv.Txn(ctx, connect.NewRequest(&pb.TxnRequest{Compare: many}))
	wantErr("too many ops", err, etcderr.TooManyOps)
	_, err = kv.Txn(ctx, connect.NewRequest(&pb.TxnRequest{Success: []*pb.RequestOp{{}}}))
	wantErr("empty op", err, etcderr.KeyNotFound)

	// state-dependent errors, from apply
	_, err = kv.Put(ctx, connect.NewRequest(&pb.PutRequest{Key: []byte("missing"), IgnoreValue: true}))
	wantErr("ignore_value on a missing key", err, etcderr.KeyNotFound)
	_, err = kv.Put(ctx, connect.NewRequest(&pb.PutRequest{Key: []byte("k"), Lease: 42}))
	wantErr("unknown lease", err, etcderr.LeaseNotFound)
	_, err = kv.Range(ctx, connect.NewRequest(&pb.RangeRequest{Key: []byte("k"), Revision: r3 + 100}))
	wantErr("future revision", err, etcderr.FutureRev)
	_, err = kv.Compact(ctx, connect.NewRequest(&pb.CompactionRequest{Revision: r3 + 100}))
	wantErr("compact in the future", err, etcderr.FutureRev)
	cresp, err := kv.Compact(ctx, connect.NewRequest(&pb.CompactionRequest{Revision: r1 + 1, Physical: true}))
	if err != nil {
		t.Fatal(err)
	}
	if ch := cresp.Msg.GetHeader(); ch.GetRevision() != r3 || ch.GetMemberId() != h.GetMemberId() {
		t.Fatalf("compact header %v", ch)
	}
	_, err = kv.Compact(ctx, connect.NewRequest(&pb.CompactionRequest{Revision: r1}))
	wantErr("compact again", err, etcderr.Compacted)
	_, err = kv.Range(ctx, connect.NewRequest(&pb.RangeRequest{Key: []byte("k"), Revision: r1}))
	wantErr("compacted revision", err, etcderr.Compacted)
	_, err = kv.Range(ctx, connect.NewRequest(&pb.RangeRequest{Key: []byte("k"), Revision: r1, Serializable: true}))
	wantErr("compacted revision, serializable", err, etcderr.Compacted)
	_, err = kv.Txn(ctx, connect.NewRequest(&pb.TxnRequest{Success: []*pb.RequestOp{rangeAt("k", r1)}}))
	wantErr("compacted revision in a read-only txn", err, etcderr.Compacted)
	_, err = kv.Txn(ctx, connect.NewRequest(&pb.TxnRequest{Success: []*pb.RequestOp{putOp("x"), rangeAt("k", r1)}}))
	wantErr("compacted revision in a write txn", err, etcderr.Compacted)
	if g, err := kv.Range(ctx, connect.NewRequest(&pb.RangeRequest{Key: []byte("x")})); err != nil || g.Msg.GetCount() != 0 || g.Msg.GetHeader().GetRevision() != r3 {
		t.Fatalf("the failed txn wrote: %v %v", g, err)
	}

	// Headers: only the top-level one carries the member's fields; inside a
	// txn each response has the revision etcd gives it.
	for _, req := range []*pb.TxnRequest{
		{Success: []*pb.RequestOp{putOp("y"), rangeAt("y", 0), {Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: []*pb.RequestOp{rangeAt("k", 0)}}}}}},
		{Success: []*pb.RequestOp{rangeAt("k", 0), {Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: []*pb.RequestOp{rangeAt("k", 0)}}}}}}, // read-only
	} {
		resp, err := kv.Txn(ctx, connect.NewRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		th := resp.Msg.GetHeader()
		if th.GetClusterId() != h.GetClusterId() || th.GetMemberId() != h.GetMemberId() || th.GetRaftTerm() == 0 {
			t.Fatalf("txn header %v", th)
		}
		rs := resp.Msg.GetResponses()
		var inner *pb.ResponseHeader
		if p := rs[0].GetResponsePut(); p != nil {
			inner = p.GetHeader()
		} else {
			inner = rs[0].GetResponseRange().GetHeader()
		}
		nested := rs[len(rs)-1].GetResponseTxn()
		if inner.GetRevision() != th.GetRevision() || inner.GetClusterId() != 0 || inner.GetMemberId() != 0 || inner.GetRaftTerm() != 0 {
			t.Fatalf("inner header %v, txn header %v", inner, th)
		}
		if nh := nested.GetHeader(); nh.GetRevision() != 0 || nh.GetClusterId() != 0 {
			t.Fatalf("nested txn header %v", nh)
		}
		if nr := nested.GetResponses()[0].GetResponseRange().GetHeader(); nr.GetRevision() != th.GetRevision() || nr.GetMemberId() != 0 {
			t.Fatalf("nested range header %v", nr)
		}
	}
}

func putOp(key string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte("v")}}}
}

func rangeAt(key string, rev int64) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key), Revision: rev}}}
}
