package lease

import (
	"cmp"
	"slices"
	"time"

	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
)

// revokeRetry is how long a lease whose revocation was proposed is left
// alone before Expired offers it again (the proposal may have been lost
// with a leader change).
const revokeRetry = 3 * time.Second

// Promote makes the lessor primary: every lease gets a deadline of its
// remaining time (the checkpoint, else the full TTL) plus extend, so the
// time an election took never counts against a lease.
func (l *Lessor) Promote(extend time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.primary = true
	l.promoteLocked(extend)
}

func (l *Lessor) promoteLocked(extend time.Duration) {
	now := l.now()
	for _, le := range l.leases {
		left := le.ttl
		if le.remaining > 0 {
			left = le.remaining
		}
		le.expiry = now.Add(extend + time.Duration(left)*time.Second)
		le.revokeAfter = time.Time{}
	}
}

// Demote stops expiry tracking: this member is no longer the leader.
func (l *Lessor) Demote() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.primary = false
	for _, le := range l.leases {
		le.expiry, le.revokeAfter = time.Time{}, time.Time{}
	}
}

// Primary reports whether the lessor tracks expiry.
func (l *Lessor) Primary() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.primary
}

// Renew restarts lease id's countdown from its full TTL and returns that
// TTL. needClear reports a checkpoint that the caller must clear through
// Raft, or a later leader would resume from the stale remaining time.
func (l *Lessor) Renew(id int64) (ttl int64, needClear bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary {
		return 0, false, ErrNotPrimary
	}
	le, ok := l.leases[id]
	if !ok {
		return 0, false, ErrNotFound
	}
	now := l.now()
	if !le.expiry.After(now) {
		// Expired: its revocation is on its way; a renewal cannot save it.
		return 0, false, ErrNotFound
	}
	le.expiry = now.Add(time.Duration(le.ttl) * time.Second)
	return le.ttl, le.remaining > 0, nil
}

// TimeToLive returns lease id's remaining whole seconds on the primary.
func (l *Lessor) TimeToLive(id int64) (Lease, int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.primary {
		return Lease{}, 0, ErrNotPrimary
	}
	le, ok := l.leases[id]
	if !ok {
		return Lease{}, 0, ErrNotFound
	}
	return le.snapshot(), remainingSeconds(le.expiry, l.now()), nil
}

// Expired returns up to limit leases past their deadline, oldest deadline
// first, and holds each back from the next calls for a while so one
// revocation is in flight per lease. Only a primary expires anything.
func (l *Lessor) Expired(limit int) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary || limit <= 0 {
		return nil
	}
	now := l.now()
	var due []*lease
	for _, le := range l.leases {
		if !le.expiry.After(now) && !le.revokeAfter.After(now) {
			due = append(due, le)
		}
	}
	slices.SortFunc(due, func(a, b *lease) int { return a.expiry.Compare(b.expiry) })
	if len(due) > limit {
		due = due[:limit]
	}
	ids := make([]int64, len(due))
	for i, le := range due {
		le.revokeAfter = now.Add(revokeRetry)
		ids[i] = le.id
	}
	return ids
}

// Due returns checkpoints of the remaining time of every lease whose TTL
// is longer than minTTL seconds, for the leader to replicate.
func (l *Lessor) Due(minTTL int64) []*chainfirev1.LeaseCheckpoint {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.primary {
		return nil
	}
	now := l.now()
	var cps []*chainfirev1.LeaseCheckpoint
	for _, le := range l.leases {
		if le.ttl <= minTTL {
			continue
		}
		left := remainingSeconds(le.expiry, now)
		if left > 0 && left != le.remaining {
			cps = append(cps, &chainfirev1.LeaseCheckpoint{Id: le.id, RemainingTtl: left})
		}
	}
	slices.SortFunc(cps, func(a, b *chainfirev1.LeaseCheckpoint) int { return cmp.Compare(a.GetId(), b.GetId()) })
	return cps
}
