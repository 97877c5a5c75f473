package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"connectrpc.com/connect"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// KV is a key and its value.
type KV struct {
	Key   []byte
	Value []byte
}

// Client is a FlareDB client. It is safe for concurrent use.
type Client struct {
	opts  options
	pd    *pdClient
	cache *regionCache
	hc    connect.HTTPClient

	mu  sync.Mutex
	kvs map[string]flaredbv1connect.KVServiceClient // by store address

	puts, gets *coalescer // per region; nil when coalescing is off
	// Per store; nil when store batching or coalescing is off.
	storePuts, storeGets *coalescer
	oldStores            sync.Map // store id -> true: StoreBatch is Unimplemented there
}

// New returns a client that finds regions through the PD at pdEndpoints
// (host:port or http://host:port). It connects lazily.
func New(pdEndpoints []string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.httpClient == nil {
		o.httpClient = newH2CClient()
	}
	o.connectOpts = append([]connect.ClientOption{connect.WithGRPC()}, o.connectOpts...)
	var eps []string
	for _, ep := range pdEndpoints {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("flaredb: no PD endpoints")
	}
	c := &Client{
		opts:  o,
		pd:    newPDClient(eps, o.httpClient, o.requestTimeout, o.connectOpts),
		cache: newRegionCache(),
		hc:    o.httpClient,
		kvs:   make(map[string]flaredbv1connect.KVServiceClient),
	}
	if !o.noCoalesce {
		c.puts, c.gets = c.regionCoalescer(sendPuts), c.regionCoalescer(sendGets)
		if !o.noStoreBatch {
			c.storePuts, c.storeGets = c.storeCoalescer(true), c.storeCoalescer(false)
		}
	}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	if cl, ok := c.hc.(interface{ CloseIdleConnections() }); ok {
		cl.CloseIdleConnections()
	}
	return nil
}

func baseURL(ep string) string {
	if strings.Contains(ep, "://") {
		return ep
	}
	return "http://" + ep
}

func (c *Client) kvClient(addr string) flaredbv1connect.KVServiceClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	kv, ok := c.kvs[addr]
	if !ok {
		kv = flaredbv1connect.NewKVServiceClient(c.hc, baseURL(addr), c.opts.connectOpts...)
		c.kvs[addr] = kv
	}
	return kv
}

// locate returns the cached region for key, asking PD on a miss.
func (c *Client) locate(ctx context.Context, key []byte) (*location, error) {
	if loc := c.cache.lookup(key); loc != nil {
		return loc, nil
	}
	r, leader, err := c.pd.region(ctx, key, false)
	if err != nil {
		return nil, err
	}
	loc := c.cache.insert(r, leader)
	if !loc.contains(key) {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("pd answered region %d, which does not hold key %q", r.GetId(), key))
	}
	return loc, nil
}

// locateBefore returns the region holding the keys just below end.
func (c *Client) locateBefore(ctx context.Context, end []byte) (*location, error) {
	if loc := c.cache.lookupBefore(end); loc != nil {
		return loc, nil
	}
	r, leader, err := c.pd.region(ctx, end, true)
	if err != nil {
		return nil, err
	}
	loc := c.cache.insert(r, leader)
	if !loc.containsBefore(end) {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("pd answered region %d, which does not end at %q", r.GetId(), end))
	}
	return loc, nil
}

// regionCall is one attempt of a request against one region's leader. It
// returns the region error from the response, if any.
// loc is the region it was routed with; loc.rpcContext() is the request's
// context.
type regionCall func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location) (*flaredbv1.RegionError, error)

// attempt runs call once against loc's leader and says what to do next.
func (c *Client) attempt(ctx context.Context, loc *location, idempotent bool, call regionCall) verdict {
	storeID := loc.leader.GetStoreId()
	addr, err := c.pd.storeAddr(ctx, storeID)
	if err != nil {
		if retryableLookup(err) {
			c.cache.nextPeer(loc, storeID)
			return verdict{}
		}
		return verdict{err: err}
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.requestTimeout)
	defer cancel()
	re, err := call(actx, c.kvClient(addr), loc)
	switch {
	case err != nil:
		return c.onRPCError(ctx, loc, storeID, err, idempotent)
	case re != nil:
		return c.onRegionError(loc, storeID, re)
	default:
		return verdict{done: true}
	}
}

// run sends call to the region located by find until it is served, the
// failure is permanent, or ctx ends. It returns the location that served
// it.
func (c *Client) run(ctx context.Context, find func(context.Context) (*location, error), idempotent bool, call regionCall) (*location, error) {
	ctx, cancel := c.withBudget(ctx)
	defer cancel()
	bo := c.newBackoff()
	for {
		loc, err := find(ctx)
		if err != nil {
			if ctx.Err() != nil || !retryableLookup(err) {
				return nil, fmt.Errorf("flaredb: locate region: %w", err)
			}
			if err := bo.wait(ctx, false, 0, err); err != nil {
				return nil, fmt.Errorf("flaredb: %w", err)
			}
			continue
		}
		v := c.attempt(ctx, loc, idempotent, call)
		switch {
		case v.done:
			return loc, nil
		case v.err != nil:
			return nil, fmt.Errorf("flaredb: %w", v.err)
		}
		if err := bo.wait(ctx, v.now, v.wait, fmt.Errorf("region %d: not served", loc.region.GetId())); err != nil {
			return nil, fmt.Errorf("flaredb: %w", err)
		}
	}
}

// onKey runs call against the region holding key.
func (c *Client) onKey(ctx context.Context, key []byte, idempotent bool, call regionCall) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := c.run(ctx, func(ctx context.Context) (*location, error) { return c.locate(ctx, key) }, idempotent, call)
	return err
}

func checkKey(key []byte) error {
	if len(key) == 0 {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("flaredb: empty key"))
	}
	return nil
}

// Get returns the value of key and whether it exists.
func (c *Client) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	if err := checkKey(key); err != nil {
		return nil, false, err
	}
	if val, found, ok, err := c.coalescedGet(ctx, key); ok || err != nil {
		return val, found, err
	}
	var resp *flaredbv1.GetResponse
	err := c.onKey(ctx, key, true, func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location) (*flaredbv1.RegionError, error) {
		r, err := kv.Get(ctx, connect.NewRequest(&flaredbv1.GetRequest{Context: loc.rpcContext(), Key: key}))
		if err != nil {
			return nil, err
		}
		resp = r.Msg
		return r.Msg.GetRegionError(), nil
	})
	if err != nil {
		return nil, false, err
	}
	if resp.GetNotFound() {
		return nil, false, nil
	}
	return resp.GetValue(), true, nil
}

// Put sets key to value.
func (c *Client) Put(ctx context.Context, key, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if ok, err := c.coalescedPut(ctx, key, value); ok || err != nil {
		return err
	}
	return c.onKey(ctx, key, true, func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location) (*flaredbv1.RegionError, error) {
		r, err := kv.Put(ctx, connect.NewRequest(&flaredbv1.PutRequest{Context: loc.rpcContext(), Key: key, Value: value}))
		if err != nil {
			return nil, err
		}
		return r.Msg.GetRegionError(), nil
	})
}

// Delete removes key (deleting a missing key is not an error).
func (c *Client) Delete(ctx context.Context, key []byte) error {
	return c.onKey(ctx, key, true, func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location) (*flaredbv1.RegionError, error) {
		r, err := kv.Delete(ctx, connect.NewRequest(&flaredbv1.DeleteRequest{Context: loc.rpcContext(), Key: key}))
		if err != nil {
			return nil, err
		}
		return r.Msg.GetRegionError(), nil
	})
}

// CAS describes a compare-and-swap: set Key to Value if it currently holds
// Previous (or, with PreviousNotExists, has no value).
type CAS struct {
	Key               []byte
	Value             []byte
	Previous          []byte
	PreviousNotExists bool
}

// CASResult is the outcome of a compare-and-swap.
type CASResult struct {
	// Succeeded says whether the value was written.
	Succeeded bool
	// Previous is the value before the call; PreviousExists is false when
	// there was none.
	Previous       []byte
	PreviousExists bool
}

// CompareAndSwap atomically replaces a key's value if it matches. See the
// package documentation for why a failure may match ErrUndetermined.
func (c *Client) CompareAndSwap(ctx context.Context, req CAS) (CASResult, error) {
	var resp *flaredbv1.CompareAndSwapResponse
	err := c.onKey(ctx, req.Key, false, func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location) (*flaredbv1.RegionError, error) {
		r, err := kv.CompareAndSwap(ctx, connect.NewRequest(&flaredbv1.CompareAndSwapRequest{
			Context: loc.rpcContext(), Key: req.Key, Value: req.Value, PreviousValue: req.Previous, PreviousNotExists: req.PreviousNotExists,
		}))
		if err != nil {
			return nil, err
		}
		resp = r.Msg
		return r.Msg.GetRegionError(), nil
	})
	if err != nil {
		return CASResult{}, err
	}
	return CASResult{Succeeded: resp.GetSucceeded(), Previous: resp.GetPreviousValue(), PreviousExists: !resp.GetPreviousNotExists()}, nil
}
