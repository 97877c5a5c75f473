package compat

import (
	"context"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
)

// TestWireErrors checks the gRPC status code and exact message of each KV
// error, as they travel on the wire (clientv3 matches errors on the message
// alone, but its retry logic and other clients look at the code too). It
// calls the generated etcdserverpb clients over clientv3's connection.
func TestWireErrors(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	kv := pb.NewKVClient(cli.ActiveConnection())
	lease := pb.NewLeaseClient(cli.ActiveConnection())

	put, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("wire/k"), Value: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	cur := put.Header.Revision
	for i := 0; i < 3; i++ {
		if _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("wire/k"), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	cur += 3
	if _, err := kv.Compact(ctx, &pb.CompactionRequest{Revision: cur - 1}); err != nil {
		t.Fatal(err)
	}
	many := make([]*pb.RequestOp, 129)
	for i := range many {
		many[i] = &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("wire/k")}}}
	}
	putOp := func(k string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte("v")}}}
	}

	const (
		emptyKey    = "etcdserver: key is not provided"
		keyNotFound = "etcdserver: key not found"
		compacted   = "etcdserver: mvcc: required revision has been compacted"
		futureRev   = "etcdserver: mvcc: required revision is a future revision"
		noLease     = "etcdserver: requested lease not found"
	)
	for _, tc := range []struct {
		name string
		call func(context.Context) error
		code codes.Code
		msg  string
	}{
		{"Range empty key", func(ctx context.Context) error {
			_, err := kv.Range(ctx, &pb.RangeRequest{})
			return err
		}, codes.InvalidArgument, emptyKey},
		{"Range invalid sort order", func(ctx context.Context) error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("wire/k"), SortOrder: 7})
			return err
		}, codes.InvalidArgument, "etcdserver: invalid sort option"},
		{"Range invalid sort target", func(ctx context.Context) error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("wire/k"), SortTarget: 9, SortOrder: pb.RangeRequest_ASCEND})
			return err
		}, codes.InvalidArgument, "etcdserver: invalid sort option"},
		{"Range future revision", func(ctx context.Context) error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("wire/k"), Revision: cur + 100})
			return err
		}, codes.OutOfRange, futureRev},
		{"Range compacted revision", func(ctx context.Context) error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("wire/k"), Revision: cur - 2})
			return err
		}, codes.OutOfRange, compacted},
		{"Put empty key", func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Value: []byte("v")})
			return err
		}, codes.InvalidArgument, emptyKey},
		{"Put ignore_value with a value", func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("wire/k"), Value: []byte("v"), IgnoreValue: true})
			return err
		}, codes.InvalidArgument, "etcdserver: value is provided"},
		{"Put ignore_lease with a lease", func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("wire/k"), Lease: 1, IgnoreLease: true})
			return err
		}, codes.InvalidArgument, "etcdserver: lease is provided"},
		{"Put ignore_value on a missing key", func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("wire/missing"), IgnoreValue: true})
			return err
		}, codes.InvalidArgument, keyNotFound},
		{"Put ignore_lease on a missing key", func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("wire/missing"), Value: []byte("v"), IgnoreLease: true})
			return err
		}, codes.InvalidArgument, keyNotFound},
		{"Put unknown lease", func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("wire/k"), Value: []byte("v"), Lease: 0x7eadbeef})
			return err
		}, codes.NotFound, noLease},
		{"DeleteRange empty key", func(ctx context.Context) error {
			_, err := kv.DeleteRange(ctx, &pb.DeleteRangeRequest{})
			return err
		}, codes.InvalidArgument, emptyKey},
		{"Txn too many ops", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: many})
			return err
		}, codes.InvalidArgument, "etcdserver: too many operations in txn request"},
		{"Txn duplicate key", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{putOp("wire/d"), putOp("wire/d")}})
			return err
		}, codes.InvalidArgument, "etcdserver: duplicate key given in txn request"},
		{"Txn empty key", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{putOp("")}})
			return err
		}, codes.InvalidArgument, emptyKey},
		{"Txn empty compare key", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Compare: []*pb.Compare{{Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL}}})
			return err
		}, codes.InvalidArgument, emptyKey},
		{"Compact compacted revision", func(ctx context.Context) error {
			_, err := kv.Compact(ctx, &pb.CompactionRequest{Revision: cur - 2})
			return err
		}, codes.OutOfRange, compacted},
		{"Compact future revision", func(ctx context.Context) error {
			_, err := kv.Compact(ctx, &pb.CompactionRequest{Revision: cur + 100})
			return err
		}, codes.OutOfRange, futureRev},
		{"LeaseRevoke unknown lease", func(ctx context.Context) error {
			_, err := lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: 0x7eadbeef})
			return err
		}, codes.NotFound, noLease},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, tc.name, tc.call(ctx), tc.code, tc.msg)
		})
	}
	r, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("wire/k")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Header.Revision != cur {
		t.Fatalf("rejected requests wrote: revision %d, want %d", r.Header.Revision, cur)
	}
}
