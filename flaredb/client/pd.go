package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// pdClient asks PD where regions and stores are, moving to the next PD
// endpoint when one is unreachable.
type pdClient struct {
	clients []flaredbv1connect.PDServiceClient
	current atomic.Uint32
	timeout time.Duration

	mu     sync.RWMutex
	stores map[uint64]string // store id -> client address
}

func newPDClient(endpoints []string, hc connect.HTTPClient, timeout time.Duration, opts []connect.ClientOption) *pdClient {
	p := &pdClient{timeout: timeout, stores: make(map[uint64]string)}
	for _, ep := range endpoints {
		p.clients = append(p.clients, flaredbv1connect.NewPDServiceClient(hc, baseURL(ep), opts...))
	}
	return p
}

// call runs f on each endpoint in turn until one answers.
func pdCall[T any](ctx context.Context, p *pdClient, f func(context.Context, flaredbv1connect.PDServiceClient) (T, error)) (T, error) {
	var zero T
	var errs []error
	start := p.current.Load()
	for i := range uint32(len(p.clients)) {
		idx := (start + i) % uint32(len(p.clients))
		cctx, cancel := context.WithTimeout(ctx, p.timeout)
		out, err := f(cctx, p.clients[idx])
		cancel()
		if err == nil {
			p.current.Store(idx)
			return out, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || connect.CodeOf(err) != connect.CodeUnavailable {
			break
		}
	}
	return zero, fmt.Errorf("pd: %w", errors.Join(errs...))
}

// region asks PD for the region holding key (before: the keys just below
// key).
func (p *pdClient) region(ctx context.Context, key []byte, before bool) (*flaredbv1.Region, *flaredbv1.Peer, error) {
	resp, err := pdCall(ctx, p, func(ctx context.Context, c flaredbv1connect.PDServiceClient) (*flaredbv1.GetRegionResponse, error) {
		r, err := c.GetRegion(ctx, connect.NewRequest(&flaredbv1.GetRegionRequest{Key: key, Before: before}))
		if err != nil {
			return nil, err
		}
		return r.Msg, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if resp.GetRegion() == nil {
		return nil, nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("pd: no region for key %q", key))
	}
	return resp.GetRegion(), resp.GetLeader(), nil
}

// storeAddr returns a store's client address, from cache or PD.
func (p *pdClient) storeAddr(ctx context.Context, id uint64) (string, error) {
	p.mu.RLock()
	addr, ok := p.stores[id]
	p.mu.RUnlock()
	if ok {
		return addr, nil
	}
	resp, err := pdCall(ctx, p, func(ctx context.Context, c flaredbv1connect.PDServiceClient) (*flaredbv1.GetStoreResponse, error) {
		r, err := c.GetStore(ctx, connect.NewRequest(&flaredbv1.GetStoreRequest{StoreId: id}))
		if err != nil {
			return nil, err
		}
		return r.Msg, nil
	})
	if err != nil {
		return "", err
	}
	addr = resp.GetStore().GetAddress()
	if addr == "" {
		return "", connect.NewError(connect.CodeNotFound, fmt.Errorf("pd: store %d has no address", id))
	}
	p.mu.Lock()
	p.stores[id] = addr
	p.mu.Unlock()
	return addr, nil
}

// forgetStore drops a store's cached address (it may have moved).
func (p *pdClient) forgetStore(id uint64) {
	p.mu.Lock()
	delete(p.stores, id)
	p.mu.Unlock()
}
