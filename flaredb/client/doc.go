// Package client is the Go client of FlareDB's raw key-value API.
//
// FlareDB cuts the key space into regions, each replicated by its own Raft
// group on several stores. The client talks to the placement driver (PD)
// only to learn where regions are, and sends every read and write straight
// to the leader of the region that holds the keys.
//
// # Routing
//
// A region cache, ordered by start key, maps a key to the region holding it,
// the region's epoch and its last known leader. A miss asks PD (GetRegion,
// or for reverse scans the region just below an end key). Every request
// carries the region id and epoch it was routed with; a store serves it only
// if both are still current, and otherwise answers with a typed region
// error that the client uses to repair its cache before retrying, as
// TiKV's client does:
//
//   - NotLeader with a leader hint: switch the cached leader, retry at once.
//     Without a hint: try the region's next peer after a short backoff.
//   - EpochNotMatch: the error carries the store's current regions for the
//     old range (after a split: the parent and its new sibling); they
//     replace the stale entry directly, with no PD round trip.
//   - RegionNotFound / KeyNotInRegion: drop the entry; the next attempt
//     asks PD.
//   - ServerIsBusy: back off for at least the time the store asked for.
//
// A store that cannot be reached makes the client try the region's other
// peers (one of them answers NotLeader with the new leader once an
// election is over).
//
// # Retries and deadlines
//
// Retries use bounded exponential backoff with jitter. They stop when the
// caller's context ends; a context without a deadline gets the client's
// retry budget (WithRetryBudget, 20 s by default), so no call retries
// forever. Invalid input (empty key, oversized key or value, start after
// end) fails at once with an InvalidArgument error.
//
// Put, Delete, the batch writes and DeleteRange are retried even when an
// attempt's outcome is unknown (the connection broke after the request was
// sent): writing the same value again is harmless. CompareAndSwap is not:
// a second attempt could fail because the first one succeeded. It is
// retried only when the request certainly did not reach a store; otherwise
// the call fails with an error matching ErrUndetermined.
//
// # Multi-region operations
//
// BatchGet, BatchPut and BatchDelete group keys by region, send one request
// per region (in chunks, several regions concurrently) and reassemble the
// answer in the caller's key order; keys of a group that hit a region error
// are regrouped against the repaired cache and retried. Scan walks regions
// in key order (or backwards for a reverse scan), asking each region for
// exactly the part of the range it owns under the epoch the request
// carries, so the result has no duplicate and no gap even while regions
// split.
package client
