package client

import (
	"context"
	"sync"
	"time"

	"connectrpc.com/connect"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// Coalescing. Concurrent single-key Puts (and Gets) bound for the same
// region are merged into one BatchPut (BatchGet) request: while a request
// to a region is in flight, later calls queue, and the queue goes out as
// one batch when it returns. With store batching (the default, see
// storebatch.go) the queues are per store instead of per region and a
// batch is one StoreBatch request holding a BatchPut (BatchGet) per region. An idle client sends at once, so nothing
// waits for a timer; a busy one sends fewer, larger requests, which the
// store turns into one Raft proposal (one read barrier) each instead of
// one per key. TiKV's client does the same with its batch commands.
//
// Any failure of the merged request (a region error, an unreachable store)
// sends every caller back to the ordinary single-key path with its own
// retries, after the attempt has repaired the region cache. Merging keeps
// each call linearizable: every merged call was pending when the batch was
// sent and is answered only after it committed (or after its read barrier),
// and calls on the same key keep their arrival order inside a batch.

// pendingOp is one caller's key waiting in a queue.
type pendingOp struct {
	key, value []byte
	done       chan struct{}
	// Set before done closes:
	fallback bool          // use the single-key path
	pause    time.Duration // wait this long first (the store is busy)
	found    bool
	result   []byte
}

// coalescer keeps one queue per region (or, for store batching, per
// store) and flushes each queue's batches, at most depth at a time.
type coalescer struct {
	mu     sync.Mutex
	queues map[uint64]*opQueue
	depth  int
	// flush sends one batch of queue id and answers every op in it.
	flush func(id uint64, batch []*pendingOp)
}

type opQueue struct {
	sending int // batches in flight
	ops     []*pendingOp
}

// batchSender sends ops (all routed to one region) as one request and fills
// in their results; it reports false when the request was not served.
type batchSender func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location, ops []*pendingOp) (*flaredbv1.RegionError, error)

func newCoalescer(depth int, flush func(id uint64, batch []*pendingOp)) *coalescer {
	return &coalescer{queues: map[uint64]*opQueue{}, depth: depth, flush: flush}
}

// regionCoalescer merges ops per region and sends them with send, one
// batch per region at a time.
func (c *Client) regionCoalescer(send batchSender) *coalescer {
	return newCoalescer(1, func(id uint64, batch []*pendingOp) { c.sendBatch(id, batch, send) })
}

// submit queues op for queue id and waits for its batch. It returns
// false when the caller must use the single-key path.
func (c *Client) submit(ctx context.Context, co *coalescer, id uint64, op *pendingOp) (bool, error) {
	op.done = make(chan struct{})
	co.mu.Lock()
	q := co.queues[id]
	if q == nil {
		q = &opQueue{}
		co.queues[id] = q
	}
	q.ops = append(q.ops, op)
	if q.sending < co.depth {
		q.sending++
		batch := c.take(q)
		go c.drain(co, id, q, batch)
	}
	co.mu.Unlock()
	select {
	case <-op.done:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if !op.fallback {
		return true, nil
	}
	if op.pause > 0 {
		// The store asked for a pause (server busy): honour it before
		// retrying alone.
		t := time.NewTimer(op.pause)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return false, nil
}

// take removes the next batch from q (caller holds the coalescer's lock):
// at most the batch size and maxBatchBytes.
func (c *Client) take(q *opQueue) []*pendingOp {
	n, size := 0, 0
	for n < len(q.ops) && n < c.opts.batchSize {
		size += len(q.ops[n].key) + len(q.ops[n].value)
		if n > 0 && size > maxBatchBytes {
			break
		}
		n++
	}
	batch := q.ops[:n:n]
	q.ops = q.ops[n:]
	return batch
}

// drain sends batches for queue id until it is empty.
func (c *Client) drain(co *coalescer, id uint64, q *opQueue, batch []*pendingOp) {
	for {
		co.flush(id, batch)
		co.mu.Lock()
		if len(q.ops) == 0 {
			if q.sending--; q.sending == 0 {
				delete(co.queues, id)
			}
			co.mu.Unlock()
			return
		}
		batch = c.take(q)
		co.mu.Unlock()
	}
}

// sendBatch makes one attempt at the region's current leader; callers of
// a batch that was not served fall back to the single-key path.
func (c *Client) sendBatch(id uint64, batch []*pendingOp, send batchSender) {
	served := false
	var pause time.Duration
	defer func() {
		for _, op := range batch {
			op.fallback, op.pause = !served, pause
			close(op.done)
		}
	}()
	loc := c.cache.get(id)
	if loc == nil {
		return
	}
	for _, op := range batch {
		if !loc.contains(op.key) {
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.requestTimeout)
	defer cancel()
	v := c.attempt(ctx, loc, true, func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location) (*flaredbv1.RegionError, error) {
		return send(ctx, kv, loc, batch)
	})
	served, pause = v.done, v.wait
}

func sendPuts(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location, ops []*pendingOp) (*flaredbv1.RegionError, error) {
	r, err := kv.BatchPut(ctx, connect.NewRequest(batchPutRequest(loc.rpcContext(), ops)))
	if err != nil {
		return nil, err
	}
	return r.Msg.GetRegionError(), nil
}

func sendGets(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location, ops []*pendingOp) (*flaredbv1.RegionError, error) {
	r, err := kv.BatchGet(ctx, connect.NewRequest(batchGetRequest(loc.rpcContext(), ops)))
	if err != nil {
		return nil, err
	}
	if re := r.Msg.GetRegionError(); re != nil {
		return re, nil
	}
	fillGets(ops, r.Msg.GetPairs())
	return nil, nil
}

// batchPutRequest writes ops' pairs, in arrival order.
func batchPutRequest(rc *flaredbv1.Context, ops []*pendingOp) *flaredbv1.BatchPutRequest {
	req := &flaredbv1.BatchPutRequest{Context: rc, Pairs: make([]*flaredbv1.KvPair, len(ops))}
	for i, op := range ops {
		req.Pairs[i] = &flaredbv1.KvPair{Key: op.key, Value: op.value}
	}
	return req
}

// batchGetRequest reads ops' keys.
func batchGetRequest(rc *flaredbv1.Context, ops []*pendingOp) *flaredbv1.BatchGetRequest {
	req := &flaredbv1.BatchGetRequest{Context: rc, Keys: make([][]byte, len(ops))}
	for i, op := range ops {
		req.Keys[i] = op.key
	}
	return req
}

// fillGets answers ops from a BatchGet's pairs (absent keys: not found).
func fillGets(ops []*pendingOp, pairs []*flaredbv1.KvPair) {
	found := make(map[string][]byte, len(pairs))
	for _, p := range pairs {
		found[string(p.GetKey())] = p.GetValue()
	}
	for _, op := range ops {
		op.result, op.found = found[string(op.key)]
	}
}

// coalescedPut tries key=value through the put queue of its store (or
// region); false means the caller must send it alone.
func (c *Client) coalescedPut(ctx context.Context, key, value []byte) (bool, error) {
	co, id := c.queueFor(key, c.storePuts, c.puts)
	if co == nil {
		return false, nil
	}
	return c.submit(ctx, co, id, &pendingOp{key: key, value: value})
}

// coalescedGet tries key through the get queue of its store (or region).
func (c *Client) coalescedGet(ctx context.Context, key []byte) (val []byte, found, ok bool, err error) {
	co, id := c.queueFor(key, c.storeGets, c.gets)
	if co == nil {
		return nil, false, false, nil
	}
	op := &pendingOp{key: key}
	ok, err = c.submit(ctx, co, id, op)
	return op.result, op.found, ok, err
}

// queueFor picks the queue for key: its leader's store queue when store
// batching is on and the store serves StoreBatch, else its region's queue
// (nil when coalescing is off or the region is not cached).
func (c *Client) queueFor(key []byte, byStore, byRegion *coalescer) (*coalescer, uint64) {
	if byRegion == nil {
		return nil, 0
	}
	loc := c.cache.lookup(key)
	if loc == nil {
		return nil, 0
	}
	if s := loc.leader.GetStoreId(); byStore != nil && !c.noStoreBatch(s) {
		return byStore, s
	}
	return byRegion, loc.region.GetId()
}
