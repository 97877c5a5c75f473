package compat

import (
	"bytes"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// TestRequestTooLarge covers the request size limit (--max-request-bytes,
// 1.5 MiB by default). What etcd v3.7.3 answers, and this test asserts:
//   - a 1 MiB value is accepted;
//   - a 1.6 MiB value (over the limit but under the gRPC receive limit of
//     limit+512 KiB) gets InvalidArgument "etcdserver: request is too large",
//     which clientv3 turns into rpctypes.ErrRequestTooLarge;
//   - a 2 MiB value is refused by gRPC itself before etcd sees it:
//     ResourceExhausted (message "grpc: received message larger than max").
//
// The client's own send limit (2 MiB by default) is raised so that the server,
// not the client, refuses the requests. The rejected requests write nothing
// and leave the connection usable.
func TestRequestTooLarge(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := startCluster(t)
	all := c.Client(t)
	follower := c.Member(c.Follower(t, all)).Endpoint()
	for _, mode := range []struct {
		name string
		eps  []string
	}{{"all-members", c.Endpoints()}, {"follower", []string{follower}}} {
		t.Run(mode.name, func(t *testing.T) {
			cfg := c.ClientConfig(mode.eps...)
			cfg.MaxCallSendMsgSize = 8 << 20
			cli := cluster.NewClient(t, cfg)
			k := "large/" + mode.name
			r0 := rev(t, ctx, cli)

			v1 := strings.Repeat("a", 1<<20)
			put := must[*clientv3.PutResponse](t, "1 MiB put")(cli.Put(ctx, k, v1))
			get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, k))
			if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != v1 || get.Kvs[0].ModRevision != put.Header.Revision {
				t.Fatalf("1 MiB value did not round-trip")
			}
			r0++

			big := strings.Repeat("b", 1600*1024)
			_, err := cli.Put(ctx, k, big)
			wantErr(t, "1.6 MiB put", err, rpctypes.ErrRequestTooLarge)
			_, err = cli.Txn(ctx).Then(clientv3.OpPut(k, big)).Commit()
			wantErr(t, "1.6 MiB txn", err, rpctypes.ErrRequestTooLarge)
			raw := pb.NewKVClient(cli.ActiveConnection())
			_, err = raw.Put(ctx, &pb.PutRequest{Key: []byte(k), Value: []byte(big)})
			wantStatus(t, "1.6 MiB put (wire)", err, codes.InvalidArgument, "etcdserver: request is too large")

			huge := bytes.Repeat([]byte("c"), 2<<20)
			_, err = cli.Put(ctx, k, string(huge))
			wantStatus(t, "2 MiB put", err, codes.ResourceExhausted, "")
			_, err = raw.Put(ctx, &pb.PutRequest{Key: []byte(k), Value: huge})
			wantStatus(t, "2 MiB put (wire)", err, codes.ResourceExhausted, "")

			// Nothing was written, and the same client goes on working.
			wantRev(t, ctx, cli, "rejected requests do not write", r0)
			must[*clientv3.PutResponse](t, "small put after the rejections")(cli.Put(ctx, k, "small"))
			get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, k))
			if string(get.Kvs[0].Value) != "small" || get.Kvs[0].Version != 2 {
				t.Fatalf("after the rejections: %q version %d", short(string(get.Kvs[0].Value)), get.Kvs[0].Version)
			}
		})
	}
}
