package client

import (
	"context"

	"connectrpc.com/connect"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Store batching. With many regions, concurrent Puts (Gets) rarely share
// a region, so per-region coalescing leaves one key per request and the
// store pays a whole RPC per key. Instead, single-key calls queue per
// store (the store leading their region): while a StoreBatch to a store is
// in flight, later calls for any region it leads queue, and the queue goes
// out as one StoreBatch when it returns, with one BatchPut (BatchGet)
// sub-request per region, which the store serves as one proposal (one
// read barrier). Puts and gets have separate queues, so reads never wait
// behind a write's commit. No timer: an idle client sends at once.
//
// Each sub-request is answered on its own. A region error repairs the
// cache as for any request (onRegionError) and sends that region's callers
// to the single-key path with its own retries; the other regions' callers
// are answered. An RPC failure does the same for every caller of the
// batch. A store that does not know StoreBatch (Unimplemented) is
// remembered and served by per-region coalescing from then on.

// noStoreBatch reports whether store answered StoreBatch with
// Unimplemented.
func (c *Client) noStoreBatch(store uint64) bool {
	_, ok := c.oldStores.Load(store)
	return ok
}

// storeCoalescer merges ops per store; write says whether they are puts.
func (c *Client) storeCoalescer(write bool) *coalescer {
	return newCoalescer(c.opts.storeBatchDepth, func(store uint64, batch []*pendingOp) { c.sendStoreBatch(store, batch, write) })
}

// storeGroup is the ops of one region in a store batch.
type storeGroup struct {
	loc *location
	ops []*pendingOp
}

// sendStoreBatch makes one StoreBatch attempt with the ops queued for
// store and answers every op: served, or sent to the single-key path.
func (c *Client) sendStoreBatch(store uint64, batch []*pendingOp, write bool) {
	defer func() {
		for _, op := range batch {
			close(op.done)
		}
	}()
	groups := c.groupForStore(store, batch)
	if len(groups) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.requestTimeout)
	defer cancel()
	addr, err := c.pd.storeAddr(ctx, store)
	if err != nil {
		fallback(groups)
		return
	}
	req := &flaredbv1.StoreBatchRequest{Requests: make([]*flaredbv1.StoreBatchRequest_Sub, len(groups))}
	for i, g := range groups {
		req.Requests[i] = subRequest(uint64(i), g, write)
	}
	resp, err := c.kvClient(addr).StoreBatch(ctx, connect.NewRequest(req))
	if err != nil {
		if connect.CodeOf(err) == connect.CodeUnimplemented {
			c.oldStores.Store(store, true)
		} else {
			for _, g := range groups {
				c.onRPCError(ctx, g.loc, store, err, true)
			}
		}
		fallback(groups)
		return
	}
	subs := resp.Msg.GetResponses()
	for i, g := range groups {
		if i >= len(subs) || subs[i].GetId() != uint64(i) {
			fallback(groups[i : i+1])
			continue
		}
		c.answer(g, store, subs[i])
	}
}

// groupForStore groups batch by region, in order of first appearance,
// from the current cache. Ops whose region is no longer cached or no
// longer led by store are sent to the single-key path at once.
func (c *Client) groupForStore(store uint64, batch []*pendingOp) []*storeGroup {
	var groups []*storeGroup
	byRegion := make(map[uint64]*storeGroup)
	for _, op := range batch {
		loc := c.cache.lookup(op.key)
		if loc == nil || loc.leader.GetStoreId() != store {
			op.fallback = true
			continue
		}
		g := byRegion[loc.region.GetId()]
		if g == nil || g.loc != loc {
			if g != nil {
				// The cache entry changed between lookups: keep the
				// group's routing, send this op alone.
				op.fallback = true
				continue
			}
			g = &storeGroup{loc: loc}
			byRegion[loc.region.GetId()] = g
			groups = append(groups, g)
		}
		g.ops = append(g.ops, op)
	}
	return groups
}

func fallback(groups []*storeGroup) {
	for _, g := range groups {
		for _, op := range g.ops {
			op.fallback = true
		}
	}
}

// subRequest is the sub-request of one region's ops: a Put (Get) for one
// op, a BatchPut (BatchGet) in arrival order for several.
func subRequest(id uint64, g *storeGroup, write bool) *flaredbv1.StoreBatchRequest_Sub {
	rc := g.loc.rpcContext()
	sub := &flaredbv1.StoreBatchRequest_Sub{Id: id}
	switch {
	case write && len(g.ops) == 1:
		sub.Request = &flaredbv1.StoreBatchRequest_Sub_Put{Put: &flaredbv1.PutRequest{Context: rc, Key: g.ops[0].key, Value: g.ops[0].value}}
	case write:
		sub.Request = &flaredbv1.StoreBatchRequest_Sub_BatchPut{BatchPut: batchPutRequest(rc, g.ops)}
	case len(g.ops) == 1:
		sub.Request = &flaredbv1.StoreBatchRequest_Sub_Get{Get: &flaredbv1.GetRequest{Context: rc, Key: g.ops[0].key}}
	default:
		sub.Request = &flaredbv1.StoreBatchRequest_Sub_BatchGet{BatchGet: batchGetRequest(rc, g.ops)}
	}
	return sub
}

// answer fills in one region's ops from its sub-response, or repairs the
// cache and sends them to the single-key path.
func (c *Client) answer(g *storeGroup, store uint64, r *flaredbv1.StoreBatchResponse_Sub) {
	var re *flaredbv1.RegionError
	switch v := r.GetResponse().(type) {
	case *flaredbv1.StoreBatchResponse_Sub_Put:
		re = v.Put.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_BatchPut:
		re = v.BatchPut.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_Get:
		if re = v.Get.GetRegionError(); re == nil {
			op := g.ops[0]
			op.result, op.found = v.Get.GetValue(), !v.Get.GetNotFound()
		}
	case *flaredbv1.StoreBatchResponse_Sub_BatchGet:
		if re = v.BatchGet.GetRegionError(); re == nil {
			fillGets(g.ops, v.BatchGet.GetPairs())
		}
	case *flaredbv1.StoreBatchResponse_Sub_Error:
		// What the request alone would have failed with: classify it the
		// same way (an unreachable leader moves on to the next peer).
		e := v.Error
		ctx, cancel := context.WithCancel(context.Background())
		c.onRPCError(ctx, g.loc, store, connect.NewError(connect.Code(e.GetCode()), errorString(e.GetMessage())), true)
		cancel()
		fallback([]*storeGroup{g})
		return
	default:
		fallback([]*storeGroup{g})
		return
	}
	if re == nil {
		return
	}
	v := c.onRegionError(g.loc, store, re)
	for _, op := range g.ops {
		op.fallback, op.pause = true, v.wait
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
