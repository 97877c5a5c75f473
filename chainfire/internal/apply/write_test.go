package apply_test

import (
	"testing"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/mvccpb"
)

func TestPut(t *testing.T) {
	h := newHarness(t)
	if h.store.Rev() != 1 {
		t.Fatalf("empty store at revision %d, want 1", h.store.Rev())
	}
	resp, err := h.putReq(&pb.PutRequest{Key: []byte("k"), Value: []byte("v1"), PrevKv: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetHeader().GetRevision() != 2 || resp.GetPrevKv() != nil {
		t.Fatalf("first put: revision %d prev %v, want 2 nil", resp.GetHeader().GetRevision(), resp.GetPrevKv())
	}
	resp, err = h.putReq(&pb.PutRequest{Key: []byte("k"), Value: []byte("v2"), PrevKv: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetHeader().GetRevision() != 3 || fmtKVs([]*mvccpb.KeyValue{resp.GetPrevKv()}) != "k=v1@2/2/1" {
		t.Fatalf("second put: revision %d prev %v", resp.GetHeader().GetRevision(), resp.GetPrevKv())
	}
	// without prev_kv there is none
	resp, err = h.putReq(&pb.PutRequest{Key: []byte("k"), Value: []byte("v3")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPrevKv() != nil || resp.GetHeader().GetRevision() != 4 {
		t.Fatalf("third put: %v", resp)
	}
	// an empty value is a value
	h.put("k", "")
	if got := h.dump(); got != "k=@2/5/4" {
		t.Fatalf("after empty value: %s", got)
	}
}

func TestPutIgnoreValueAndLease(t *testing.T) {
	h := newHarness(t)
	h.put("k", "keep")
	resp, err := h.putReq(&pb.PutRequest{Key: []byte("k"), IgnoreValue: true, PrevKv: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetHeader().GetRevision() != 3 || string(resp.GetPrevKv().GetValue()) != "keep" {
		t.Fatalf("ignore_value: %v", resp)
	}
	if got := h.dump(); got != "k=keep@2/3/2" {
		t.Fatalf("after ignore_value: %s", got)
	}
	if _, err := h.putReq(&pb.PutRequest{Key: []byte("k"), Value: []byte("new"), IgnoreLease: true}); err != nil {
		t.Fatal(err)
	}
	if got := h.dump(); got != "k=new@2/4/3" {
		t.Fatalf("after ignore_lease: %s", got)
	}
	if _, err := h.putReq(&pb.PutRequest{Key: []byte("k"), IgnoreValue: true, IgnoreLease: true}); err != nil {
		t.Fatal(err)
	}
	if got := h.dump(); got != "k=new@2/5/4" {
		t.Fatalf("after both: %s", got)
	}

	// A missing key: etcd's "key not found", nothing written, no revision.
	if _, err := h.del("k", ""); err != nil {
		t.Fatal(err)
	}
	h.put("other", "o")
	rev, before := h.store.Rev(), h.dump()
	for _, req := range []*pb.PutRequest{
		{Key: []byte("missing"), IgnoreValue: true},
		{Key: []byte("missing"), Value: []byte("v"), IgnoreLease: true},
		{Key: []byte("missing"), IgnoreValue: true, IgnoreLease: true, PrevKv: true},
		{Key: []byte("k"), IgnoreValue: true}, // deleted
	} {
		_, err := h.putReq(req)
		wantErr(t, "ignore flags on a missing key", err, etcderr.KeyNotFound)
	}
	if h.store.Rev() != rev || h.dump() != before {
		t.Fatalf("a failed put changed the store: rev %d, %s", h.store.Rev(), h.dump())
	}
}

func TestPutLease(t *testing.T) {
	h := newHarness(t)
	h.put("k", "v")
	rev := h.store.Rev()
	for _, req := range []*pb.PutRequest{
		{Key: []byte("k"), Value: []byte("v"), Lease: 1},
		{Key: []byte("new"), Lease: -7},
		// etcd checks the lease before the key: LeaseNotFound wins.
		{Key: []byte("missing"), IgnoreValue: true, Lease: 5},
	} {
		_, err := h.putReq(req)
		wantErr(t, "put with a lease", err, etcderr.LeaseNotFound)
	}
	if h.store.Rev() != rev || h.dump() != "k=v@2/2/1" {
		t.Fatalf("a failed put changed the store: rev %d, %s", h.store.Rev(), h.dump())
	}
}

func TestDeleteRange(t *testing.T) {
	h := populated(t)
	rev := h.store.Rev()

	// nothing matches: no revision
	resp, err := h.del("zz", "")
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDeleted() != 0 || len(resp.GetPrevKvs()) != 0 || resp.GetHeader().GetRevision() != rev || h.store.Rev() != rev {
		t.Fatalf("delete of nothing: %v, store at %d (was %d)", resp, h.store.Rev(), rev)
	}
	resp, err = h.del("b", "a") // end before key: empty
	if err != nil || resp.GetDeleted() != 0 || h.store.Rev() != rev {
		t.Fatalf("delete of an empty range: %v %v", resp, err)
	}

	resp, err = h.del("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDeleted() != 3 || keysOf(resp.GetPrevKvs()) != "a,ab,abc" || resp.GetHeader().GetRevision() != rev+1 {
		t.Fatalf("delete prefix a: %v", resp)
	}
	if string(resp.GetPrevKvs()[1].GetValue()) != "v-ab" || resp.GetPrevKvs()[1].GetModRevision() != 3 {
		t.Fatalf("prev kv: %v", resp.GetPrevKvs()[1])
	}
	// without prev_kv
	r2, err := h.do(delCmd(&pb.DeleteRangeRequest{Key: []byte("b")}))
	if err != nil {
		t.Fatal(err)
	}
	if d := r2.(*pb.DeleteRangeResponse); d.GetDeleted() != 1 || d.GetPrevKvs() != nil || d.GetHeader().GetRevision() != rev+2 {
		t.Fatalf("delete b: %v", d)
	}
	resp, err = h.del("\xff", "\x00")
	if err != nil || resp.GetDeleted() != 2 || keysOf(resp.GetPrevKvs()) != "\xff,\xff\xff" {
		t.Fatalf("delete from \\xff: %v %v", resp, err)
	}
	resp, err = h.del("\x00", "\x00")
	if err != nil || resp.GetDeleted() != 2 || keysOf(resp.GetPrevKvs()) != "b\xff,c" || resp.GetHeader().GetRevision() != rev+4 {
		t.Fatalf("delete all: %v %v", resp, err)
	}
	if h.dump() != "" || h.store.Rev() != rev+4 {
		t.Fatalf("left %q at %d", h.dump(), h.store.Rev())
	}
	// a deleted key comes back with a new generation
	h.put("a", "again")
	if got := h.dump(); got != "a=again@14/14/1" {
		t.Fatalf("recreated: %s", got)
	}
}
