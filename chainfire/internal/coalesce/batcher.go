package coalesce

import (
	"context"
	"errors"
	"sync"
)

// ErrNotSent is returned by Batcher.Submit when ctx ended before the item
// joined a batch: it was never sent, so retrying it elsewhere is safe.
var ErrNotSent = errors.New("coalesce: item not sent")

// Result is what a Batcher's send function hands back for one item.
type Result[O any] struct {
	Value O
	Err   error
}

// Batcher sends concurrent callers' items in batches. Each of its workers
// takes every item queued (up to a maximum) and calls send once for all of
// them, so under load a batch forms by itself while earlier ones are in
// flight, and a remote peer sees one call per batch rather than per item.
// Unlike Group, every caller has its own item and its own result.
type Batcher[I, O any] struct {
	send     func(context.Context, []I) []Result[O]
	maxBatch int
	queue    chan batchItem[I, O]
}

type batchItem[I, O any] struct {
	item I
	done chan Result[O]
}

// NewBatcher returns a Batcher whose batches hold at most maxBatch items;
// send must return one Result per item, in order. Start it with Run.
func NewBatcher[I, O any](maxBatch int, send func(context.Context, []I) []Result[O]) *Batcher[I, O] {
	return &Batcher[I, O]{send: send, maxBatch: maxBatch, queue: make(chan batchItem[I, O], 4096)}
}

// Run starts workers goroutines serving batches until ctx ends; wg tracks
// them.
func (b *Batcher[I, O]) Run(ctx context.Context, workers int, wg *sync.WaitGroup) {
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.work(ctx)
		}()
	}
}

func (b *Batcher[I, O]) work(ctx context.Context) {
	waiting := make([]batchItem[I, O], 0, b.maxBatch)
	items := make([]I, 0, b.maxBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-b.queue:
			waiting = append(waiting[:0], it)
		}
	drain:
		for len(waiting) < b.maxBatch {
			select {
			case it := <-b.queue:
				waiting = append(waiting, it)
			default:
				break drain
			}
		}
		items = items[:0]
		for _, it := range waiting {
			items = append(items, it.item)
		}
		results := b.send(ctx, items)
		for i, it := range waiting {
			it.done <- results[i]
		}
		clear(items) // drop references until the next batch
	}
}

// Submit sends item with the next batch and returns its result. If ctx
// ends first it returns ErrNotSent (the item never left the queue's side)
// or ctx.Err() (the item may have been sent).
func (b *Batcher[I, O]) Submit(ctx context.Context, item I) (O, error) {
	var zero O
	it := batchItem[I, O]{item: item, done: make(chan Result[O], 1)}
	select {
	case b.queue <- it:
	case <-ctx.Done():
		return zero, ErrNotSent
	}
	select {
	case r := <-it.done:
		return r.Value, r.Err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
