package client

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"connectrpc.com/connect"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// group is one per-region request of a batch: indices into the caller's
// keys, all in loc's range.
type group struct {
	loc   *location
	idx   []int
	bytes int
}

// maxBatchBytes bounds the keys and values of one batch request, well
// under the servers' default request limit (1.5 MiB), so a batch of large
// values is sent in several requests instead of being refused.
const maxBatchBytes = 1 << 20

// batchCall sends the keys at idx to the region of loc.
type batchCall func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location, idx []int) (*flaredbv1.RegionError, error)

// groupByRegion splits the keys at pending by region (in key order, keeping
// the caller's order among equal keys) and into chunks of at most the batch
// size and maxBatchBytes. size(i) is the request bytes entry i adds.
func (c *Client) groupByRegion(ctx context.Context, keys [][]byte, pending []int, size func(int) int) ([]group, error) {
	sort.SliceStable(pending, func(i, j int) bool { return bytes.Compare(keys[pending[i]], keys[pending[j]]) < 0 })
	var groups []group
	for _, i := range pending {
		n := len(groups)
		if n > 0 {
			g := &groups[n-1]
			if g.loc.contains(keys[i]) && len(g.idx) < c.opts.batchSize && g.bytes+size(i) <= maxBatchBytes {
				g.idx = append(g.idx, i)
				g.bytes += size(i)
				continue
			}
		}
		loc := (*location)(nil)
		if n > 0 && groups[n-1].loc.contains(keys[i]) {
			loc = groups[n-1].loc // same region, next chunk
		} else {
			var err error
			if loc, err = c.locate(ctx, keys[i]); err != nil {
				return nil, err
			}
		}
		groups = append(groups, group{loc: loc, idx: []int{i}, bytes: size(i)})
	}
	return groups, nil
}

// runBatch sends keys to their regions, several regions at once, until
// every group has been served; the keys of groups that failed with a
// retryable error are regrouped against the repaired cache.
func (c *Client) runBatch(ctx context.Context, keys [][]byte, size func(int) int, call batchCall) error {
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	ctx, cancel := c.withBudget(ctx)
	defer cancel()
	bo := c.newBackoff()
	pending := make([]int, len(keys))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		groups, err := c.groupByRegion(ctx, keys, pending, size)
		if err != nil {
			if ctx.Err() != nil || !retryableLookup(err) {
				return fmt.Errorf("flaredb: locate region: %w", err)
			}
			if err := bo.wait(ctx, false, 0, err); err != nil {
				return fmt.Errorf("flaredb: %w", err)
			}
			continue
		}
		verdicts := c.sendGroups(ctx, groups, call)
		pending = pending[:0]
		now, wait := true, time.Duration(0)
		for i, v := range verdicts {
			switch {
			case v.done:
			case v.err != nil:
				return fmt.Errorf("flaredb: %w", v.err)
			default:
				pending = append(pending, groups[i].idx...)
				now = now && v.now
				wait = max(wait, v.wait)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if err := bo.wait(ctx, now, wait, fmt.Errorf("%d keys not served", len(pending))); err != nil {
			return fmt.Errorf("flaredb: %w", err)
		}
	}
	return nil
}

// sendGroups runs one attempt per group, at most the configured number at
// once.
func (c *Client) sendGroups(ctx context.Context, groups []group, call batchCall) []verdict {
	out := make([]verdict, len(groups))
	if len(groups) == 1 {
		g := groups[0]
		out[0] = c.attempt(ctx, g.loc, true, func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location) (*flaredbv1.RegionError, error) {
			return call(ctx, kv, loc, g.idx)
		})
		return out
	}
	sem := make(chan struct{}, c.opts.concurrency)
	var wg sync.WaitGroup
	for i, g := range groups {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = c.attempt(ctx, g.loc, true, func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location) (*flaredbv1.RegionError, error) {
				return call(ctx, kv, loc, g.idx)
			})
		})
	}
	wg.Wait()
	return out
}

// keySize is the request size function of batches that carry keys only.
func keySize(keys [][]byte) func(int) int { return func(i int) int { return len(keys[i]) } }

func pick(keys [][]byte, idx []int) [][]byte {
	out := make([][]byte, len(idx))
	for i, j := range idx {
		out[i] = keys[j]
	}
	return out
}

// BatchGet reads keys, which may span many regions. It returns the pairs
// that exist, in the order of keys.
func (c *Client) BatchGet(ctx context.Context, keys [][]byte) ([]KV, error) {
	vals := make([][]byte, len(keys))
	found := make([]bool, len(keys))
	err := c.runBatch(ctx, keys, keySize(keys), func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location, idx []int) (*flaredbv1.RegionError, error) {
		r, err := kv.BatchGet(ctx, connect.NewRequest(&flaredbv1.BatchGetRequest{Context: loc.rpcContext(), Keys: pick(keys, idx)}))
		if err != nil {
			return nil, err
		}
		if re := r.Msg.GetRegionError(); re != nil {
			return re, nil
		}
		got := make(map[string][]byte, len(r.Msg.GetPairs()))
		for _, p := range r.Msg.GetPairs() {
			got[string(p.GetKey())] = p.GetValue()
		}
		for _, i := range idx {
			vals[i], found[i] = got[string(keys[i])]
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	var out []KV
	for i, k := range keys {
		if found[i] {
			out = append(out, KV{Key: k, Value: vals[i]})
		}
	}
	return out, nil
}

// BatchPut writes pairs, which may span many regions. Each region's part
// is atomic; the whole batch is not.
func (c *Client) BatchPut(ctx context.Context, pairs []KV) error {
	keys := make([][]byte, len(pairs))
	for i, p := range pairs {
		keys[i] = p.Key
	}
	size := func(i int) int { return len(pairs[i].Key) + len(pairs[i].Value) }
	return c.runBatch(ctx, keys, size, func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location, idx []int) (*flaredbv1.RegionError, error) {
		req := &flaredbv1.BatchPutRequest{Context: loc.rpcContext(), Pairs: make([]*flaredbv1.KvPair, len(idx))}
		for j, i := range idx {
			req.Pairs[j] = &flaredbv1.KvPair{Key: pairs[i].Key, Value: pairs[i].Value}
		}
		r, err := kv.BatchPut(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		return r.Msg.GetRegionError(), nil
	})
}

// BatchDelete removes keys, which may span many regions.
func (c *Client) BatchDelete(ctx context.Context, keys [][]byte) error {
	return c.runBatch(ctx, keys, keySize(keys), func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location, idx []int) (*flaredbv1.RegionError, error) {
		r, err := kv.BatchDelete(ctx, connect.NewRequest(&flaredbv1.BatchDeleteRequest{Context: loc.rpcContext(), Keys: pick(keys, idx)}))
		if err != nil {
			return nil, err
		}
		return r.Msg.GetRegionError(), nil
	})
}
