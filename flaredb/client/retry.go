package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"connectrpc.com/connect"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// ErrUndetermined marks a CompareAndSwap whose outcome is unknown: the
// request may or may not have been applied.
var ErrUndetermined = errors.New("flaredb: outcome undetermined")

// maxImmediateRetries bounds retries without a pause (after a leader hint
// or new regions from the store) before the backoff applies anyway, so two
// stores that disagree cannot make the client spin.
const maxImmediateRetries = 4

// backoff paces the retries of one call.
type backoff struct {
	next, max time.Duration
	immediate int
	lastErr   error
}

func (c *Client) newBackoff() *backoff {
	return &backoff{next: c.opts.backoffBase, max: c.opts.backoffMax}
}

// wait pauses before the next attempt: not at all when now is set (up to
// maxImmediateRetries in a row), otherwise the exponential delay with
// jitter, or atLeast if longer. cause is reported if ctx ends first.
func (b *backoff) wait(ctx context.Context, now bool, atLeast time.Duration, cause error) error {
	b.lastErr = cause
	if now && b.immediate < maxImmediateRetries {
		b.immediate++
		return ctx.Err()
	}
	b.immediate = 0
	d := b.next/2 + rand.N(b.next/2+1)
	d = max(d, atLeast)
	b.next = min(2*b.next, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return b.give(ctx)
	case <-t.C:
		return nil
	}
}

// give is the error a call ends with when its context ends mid-retry.
func (b *backoff) give(ctx context.Context) error {
	if b.lastErr != nil {
		return errors.Join(ctx.Err(), b.lastErr)
	}
	return ctx.Err()
}

// withBudget bounds a call that has no deadline by the retry budget.
func (c *Client) withBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.retryBudget)
}

// verdict is what to do after one attempt.
type verdict struct {
	done bool
	now  bool          // retry without pause
	wait time.Duration // minimum pause
	err  error         // permanent failure (done with an error)
}

// onRegionError repairs the cache from a region error returned by the
// store on storeID for a request routed with loc.
func (c *Client) onRegionError(loc *location, storeID uint64, re *flaredbv1.RegionError) verdict {
	switch e := re.GetError().(type) {
	case *flaredbv1.RegionError_NotLeader:
		l := e.NotLeader.GetLeader()
		switch {
		case l.GetId() == 0 || l.GetStoreId() == storeID:
			// No (usable) hint: an election may be running. Try another peer.
			c.cache.nextPeer(loc, storeID)
			return verdict{}
		case c.cache.setLeader(loc, l):
			return verdict{now: true}
		default:
			// The leader is a peer the cached region does not list: its
			// membership changed (which does not touch the version, so no
			// EpochNotMatch would tell). PD has the new peer list.
			c.cache.invalidate(loc)
			return verdict{}
		}
	case *flaredbv1.RegionError_EpochNotMatch:
		if cur := e.EpochNotMatch.GetCurrentRegions(); len(cur) > 0 {
			c.cache.replace(loc, cur, storeID)
			return verdict{now: true}
		}
		c.cache.invalidate(loc)
		return verdict{}
	case *flaredbv1.RegionError_RegionNotFound:
		c.cache.invalidate(loc)
		return verdict{}
	case *flaredbv1.RegionError_KeyNotInRegion:
		c.cache.invalidate(loc)
		return verdict{now: true}
	case *flaredbv1.RegionError_ServerIsBusy:
		return verdict{wait: time.Duration(e.ServerIsBusy.GetBackoffMs()) * time.Millisecond}
	default:
		c.cache.invalidate(loc)
		return verdict{}
	}
}

// onRPCError classifies an RPC failure against the store on storeID.
// idempotent says whether the request may be repeated when it may have
// been applied already.
func (c *Client) onRPCError(ctx context.Context, loc *location, storeID uint64, err error, idempotent bool) verdict {
	if ctx.Err() != nil {
		return verdict{err: err}
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeAborted, connect.CodeUnknown, connect.CodeCanceled:
		if !idempotent && !notSent(err) {
			return verdict{err: errors.Join(ErrUndetermined, err)}
		}
		c.cache.nextPeer(loc, storeID)
		c.pd.forgetStore(storeID)
		return verdict{}
	default:
		return verdict{err: err}
	}
}

// notSent reports whether err certainly happened before the request left
// (the connection could not be opened).
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// retryableLookup reports whether a failed PD lookup may succeed later:
// PD restarting, a routing-table hole during a split, a cluster still
// bootstrapping.
func retryableLookup(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeNotFound, connect.CodeFailedPrecondition,
		connect.CodeDeadlineExceeded, connect.CodeUnknown, connect.CodeAborted:
		return true
	}
	return false
}
