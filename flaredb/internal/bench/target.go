package bench

import (
	"context"
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/client"
	"github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// conn is one client connection of a system under test; the workers
// share a few of them, as real applications share a client.
type conn interface {
	put(ctx context.Context, k, v []byte) error
	get(ctx context.Context, k []byte) error
	// scan reads up to n keys from start on and returns how many it got.
	scan(ctx context.Context, start []byte, n int) (int, error)
	close()
}

func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols), MaxIdleConnsPerHost: 4}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

// etcdConn speaks etcd's gRPC KV API (to etcd or Chainfire) through the
// project's generated client: puts, linearizable gets and ranges.
type etcdConn struct {
	hc *http.Client
	kv etcdserverpbconnect.KVClient
}

func newEtcdConn(endpoint string) *etcdConn {
	hc := h2cClient()
	return &etcdConn{hc: hc, kv: etcdserverpbconnect.NewKVClient(hc, "http://"+endpoint, connect.WithGRPC())}
}

func (c *etcdConn) put(ctx context.Context, k, v []byte) error {
	_, err := c.kv.Put(ctx, connect.NewRequest(&etcdserverpb.PutRequest{Key: k, Value: v}))
	return err
}

func (c *etcdConn) get(ctx context.Context, k []byte) error {
	resp, err := c.kv.Range(ctx, connect.NewRequest(&etcdserverpb.RangeRequest{Key: k}))
	if err == nil && len(resp.Msg.GetKvs()) != 1 {
		err = fmt.Errorf("get %q: %d keys", k, len(resp.Msg.GetKvs()))
	}
	return err
}

func (c *etcdConn) scan(ctx context.Context, start []byte, n int) (int, error) {
	resp, err := c.kv.Range(ctx, connect.NewRequest(&etcdserverpb.RangeRequest{Key: start, RangeEnd: []byte{0}, Limit: int64(n)}))
	if err != nil {
		return 0, err
	}
	return len(resp.Msg.GetKvs()), nil
}

// putBatch writes pairs in one transaction (preloading).
func (c *etcdConn) putBatch(ctx context.Context, keys, vals [][]byte) error {
	txn := &etcdserverpb.TxnRequest{}
	for i := range keys {
		txn.Success = append(txn.Success, &etcdserverpb.RequestOp{Request: &etcdserverpb.RequestOp_RequestPut{
			RequestPut: &etcdserverpb.PutRequest{Key: keys[i], Value: vals[i]}}})
	}
	_, err := c.kv.Txn(ctx, connect.NewRequest(txn))
	return err
}

func (c *etcdConn) close() { c.hc.CloseIdleConnections() }

// flareConn is one exported FlareDB client (its own connections to PD and
// every store).
type flareConn struct{ c *client.Client }

func newFlareConn(pd string, opts ...client.Option) (*flareConn, error) {
	c, err := client.New([]string{pd}, opts...)
	if err != nil {
		return nil, err
	}
	return &flareConn{c: c}, nil
}

func (c *flareConn) put(ctx context.Context, k, v []byte) error { return c.c.Put(ctx, k, v) }

func (c *flareConn) get(ctx context.Context, k []byte) error {
	_, found, err := c.c.Get(ctx, k)
	if err == nil && !found {
		err = fmt.Errorf("get %q: not found", k)
	}
	return err
}

func (c *flareConn) scan(ctx context.Context, start []byte, n int) (int, error) {
	kvs, err := c.c.Scan(ctx, start, nil, n)
	return len(kvs), err
}

func (c *flareConn) close() { _ = c.c.Close() }

type clientKV = client.KV
