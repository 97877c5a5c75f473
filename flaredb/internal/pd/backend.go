package pd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// Backend is the part of Chainfire's etcd v3 KV API that PD uses.
type Backend interface {
	Range(ctx context.Context, req *etcdserverpb.RangeRequest) (*etcdserverpb.RangeResponse, error)
	Txn(ctx context.Context, req *etcdserverpb.TxnRequest) (*etcdserverpb.TxnResponse, error)
}

// chainfireBackend calls Chainfire's KV service over gRPC on one of several
// endpoints, moving to the next endpoint when one cannot be reached.
type chainfireBackend struct {
	clients []etcdserverpbconnect.KVClient
	names   []string
	current atomic.Uint32
	timeout time.Duration
}

// NewChainfireBackend returns a Backend talking to the Chainfire members at
// endpoints (host:port or http://host:port). Each call is bounded by
// timeout on top of the caller's context.
func NewChainfireBackend(endpoints []string, timeout time.Duration) (Backend, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("pd: no chainfire endpoints")
	}
	hc := newH2CClient()
	b := &chainfireBackend{timeout: timeout}
	for _, ep := range endpoints {
		ep = strings.TrimSpace(ep)
		if ep == "" {
			continue
		}
		if !strings.Contains(ep, "://") {
			ep = "http://" + ep
		}
		b.clients = append(b.clients, etcdserverpbconnect.NewKVClient(hc, ep, connect.WithGRPC()))
		b.names = append(b.names, ep)
	}
	if len(b.clients) == 0 {
		return nil, errors.New("pd: no chainfire endpoints")
	}
	return b, nil
}

func newH2CClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols), MaxIdleConnsPerHost: 16}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

func (b *chainfireBackend) Range(ctx context.Context, req *etcdserverpb.RangeRequest) (*etcdserverpb.RangeResponse, error) {
	return call(ctx, b, func(ctx context.Context, c etcdserverpbconnect.KVClient) (*etcdserverpb.RangeResponse, error) {
		resp, err := c.Range(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	})
}

func (b *chainfireBackend) Txn(ctx context.Context, req *etcdserverpb.TxnRequest) (*etcdserverpb.TxnResponse, error) {
	return call(ctx, b, func(ctx context.Context, c etcdserverpbconnect.KVClient) (*etcdserverpb.TxnResponse, error) {
		resp, err := c.Txn(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	})
}

// call tries each endpoint once, starting with the one that worked last.
// Only Unavailable moves on: every PD write is either a compare-and-swap or
// an idempotent overwrite, so repeating one that may have landed is safe.
func call[T any](ctx context.Context, b *chainfireBackend, f func(context.Context, etcdserverpbconnect.KVClient) (T, error)) (T, error) {
	var zero T
	var errs []error
	start := b.current.Load()
	for i := range uint32(len(b.clients)) {
		idx := (start + i) % uint32(len(b.clients))
		cctx, cancel := context.WithTimeout(ctx, b.timeout)
		out, err := f(cctx, b.clients[idx])
		cancel()
		if err == nil {
			b.current.Store(idx)
			return out, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", b.names[idx], err))
		if ctx.Err() != nil || !retryable(err) {
			break
		}
	}
	return zero, fmt.Errorf("chainfire: %w", errors.Join(errs...))
}

func retryable(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeUnknown:
		return true
	}
	return false
}
