package lease

import (
	"errors"
	"slices"
	"sync"
	"time"
)

// MaxTTL is etcd's largest grantable TTL in seconds.
const MaxTTL = 9_000_000_000

// Errors of the replicated operations; the apply layer maps them to
// etcd's wire errors.
var (
	ErrNotFound    = errors.New("lease: not found")
	ErrExists      = errors.New("lease: already exists")
	ErrTTLTooLarge = errors.New("lease: TTL too large")
	// ErrNotPrimary means this lessor does not track expiry: the member is
	// not (or not yet) the ready leader.
	ErrNotPrimary = errors.New("lease: not the primary lessor")
)

// Lease is a snapshot of one lease.
type Lease struct {
	ID int64
	// TTL is the granted TTL in seconds.
	TTL int64
	// Remaining is the last checkpointed remaining TTL, 0 for none.
	Remaining int64
	// Expiry is the leader's deadline; zero on a follower.
	Expiry time.Time
	// Keys are the attached keys, sorted.
	Keys []string
}

type lease struct {
	id        int64
	ttl       int64
	remaining int64
	keys      map[string]struct{}
	expiry    time.Time
	// revokeAfter holds back a second revocation proposal for a lease
	// whose first one is still on its way through Raft.
	revokeAfter time.Time
}

// Options configures a Lessor.
type Options struct {
	// MinTTL is the smallest TTL granted, in seconds (etcd: 1.5 election
	// timeouts rounded up); smaller requests are raised to it.
	MinTTL int64
	// Now returns the current time (tests substitute a clock).
	Now func() time.Time
}

// Lessor is the set of leases of one member. It is safe for concurrent use.
type Lessor struct {
	minTTL int64
	now    func() time.Time

	mu      sync.RWMutex
	leases  map[int64]*lease
	primary bool
}

// New returns an empty, non-primary Lessor.
func New(opts Options) *Lessor {
	if opts.MinTTL <= 0 {
		opts.MinTTL = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Lessor{minTTL: opts.MinTTL, now: opts.Now, leases: map[int64]*lease{}}
}

// MinTTL is the smallest TTL the lessor grants.
func (l *Lessor) MinTTL() int64 { return l.minTTL }

// Exists reports whether lease id exists.
func (l *Lessor) Exists(id int64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.leases[id]
	return ok
}

// Get returns lease id.
func (l *Lessor) Get(id int64) (Lease, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	le, ok := l.leases[id]
	if !ok {
		return Lease{}, false
	}
	return le.snapshot(), true
}

// IDs lists every lease id in ascending order.
func (l *Lessor) IDs() []int64 {
	l.mu.RLock()
	ids := make([]int64, 0, len(l.leases))
	for id := range l.leases {
		ids = append(ids, id)
	}
	l.mu.RUnlock()
	slices.Sort(ids)
	return ids
}

// Len is the number of leases.
func (l *Lessor) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.leases)
}

func (le *lease) snapshot() Lease {
	keys := make([]string, 0, len(le.keys))
	for k := range le.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return Lease{ID: le.id, TTL: le.ttl, Remaining: le.remaining, Expiry: le.expiry, Keys: keys}
}

// remainingSeconds is the time left until expiry in whole seconds,
// truncated as etcd reports it.
func remainingSeconds(expiry, now time.Time) int64 {
	left := expiry.Sub(now)
	if left <= 0 {
		return 0
	}
	return int64(left / time.Second)
}
