// Package coalesce turns many concurrent calls into few.
//
// Group lets callers share one call, with the guarantee that the call they
// share STARTED after they asked. That is what read-index style protocols
// need: a read may reuse a leadership confirmation or a read index only if
// it was obtained after the read arrived, so callers that arrive while a
// call is in flight wait for the next one, and one call then serves all of
// them.
//
// Batcher sends callers' own items in batches (forwarded writes, forwarded
// keepalives): one call per batch, one result per item.
package coalesce

import "context"

// Group runs fn on behalf of batches of callers.
type Group[T any] struct {
	fn   func(context.Context) (T, error)
	reqs chan chan result[T]
}

type result[T any] struct {
	v   T
	err error
}

// New returns a Group calling fn; start it with Run.
func New[T any](fn func(context.Context) (T, error)) *Group[T] {
	return &Group[T]{fn: fn, reqs: make(chan chan result[T], 4096)}
}

// Run serves callers until ctx ends.
func (g *Group[T]) Run(ctx context.Context) {
	batch := make([]chan result[T], 0, 256)
	for {
		select {
		case <-ctx.Done():
			return
		case first := <-g.reqs:
			batch = append(batch[:0], first)
		}
	drain:
		for {
			select {
			case c := <-g.reqs:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		v, err := g.fn(ctx)
		for _, c := range batch {
			c <- result[T]{v, err}
		}
	}
}

// Do returns the result of a call of fn that started after Do was called.
func (g *Group[T]) Do(ctx context.Context) (T, error) {
	var zero T
	c := make(chan result[T], 1)
	select {
	case g.reqs <- c:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	select {
	case r := <-c:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
