package raftlease

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Fraction is the part of the followers' heartbeat timeout a lease lasts;
// the rest is the margin for clock rate differences.
const Fraction = 0.8

// renewBelow: a read that finds less than this fraction of the lease left
// asks for a renewal round.
const renewBelow = 0.25

// Lease is one raft group's lease bookkeeping on one replica. Its methods
// are safe for concurrent use.
type Lease struct {
	enabled  bool
	duration time.Duration
	renew    chan struct{} // capacity 1: a renewal round is wanted

	mu      sync.Mutex
	term    uint64                      // the term acks belong to
	acks    map[raft.ServerID]time.Time // send time of each voter's newest accepted append
	revoked uint64                      // no lease in terms <= revoked

	reads  atomic.Uint64 // reads served by the lease
	rounds atomic.Uint64 // VerifyLeader rounds counted by CountRound
}

// New returns the lease of a replica whose followers forget their leader
// heartbeatTimeout after its last contact (raft's HeartbeatTimeout of the
// followers). A disabled lease records acks but never serves a read.
func New(enabled bool, heartbeatTimeout time.Duration) *Lease {
	return &Lease{
		enabled:  enabled,
		duration: time.Duration(float64(heartbeatTimeout) * Fraction),
		renew:    make(chan struct{}, 1),
		acks:     map[raft.ServerID]time.Time{},
	}
}

// Enabled reports whether the lease serves reads.
func (l *Lease) Enabled() bool { return l.enabled }

// Duration is how long a lease lasts after the quorum's oldest ack was sent.
func (l *Lease) Duration() time.Duration { return l.duration }

// Acked records that follower id accepted an AppendEntries of term that
// was sent at sent.
func (l *Lease) Acked(term uint64, id raft.ServerID, sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if term > l.term {
		l.term = term
		clear(l.acks)
	}
	if term == l.term && sent.After(l.acks[id]) {
		l.acks[id] = sent
	}
}

// Revoke ends the lease of every term up to term.
func (l *Lease) Revoke(term uint64) {
	l.mu.Lock()
	l.revoked = max(l.revoked, term)
	l.mu.Unlock()
}

// Revoked is the newest term whose lease was revoked.
func (l *Lease) Revoked() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.revoked
}

// Expiry is when the lease of term ends for a leader self with the given
// configuration; the zero time means there is none.
func (l *Lease) Expiry(term uint64, self raft.ServerID, conf []raft.Server) time.Time {
	var buf [8]time.Time
	others := buf[:0]
	voters, selfVotes := 0, false
	l.mu.Lock()
	if term != l.term || term <= l.revoked {
		l.mu.Unlock()
		return time.Time{}
	}
	for _, s := range conf {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if s.ID == self {
			selfVotes = true
			continue
		}
		others = append(others, l.acks[s.ID])
	}
	l.mu.Unlock()
	if !selfVotes {
		return time.Time{} // a leader outside the configuration is stepping down
	}
	need := voters/2 + 1 - 1 // acks needed besides the leader's own
	if need == 0 {
		// The only voter: no one else can be elected until a membership
		// change this leader commits, which the next read sees.
		return time.Now().Add(l.duration)
	}
	if len(others) < need {
		return time.Time{}
	}
	slices.SortFunc(others, func(a, b time.Time) int { return b.Compare(a) })
	oldest := others[need-1] // the quorum's least recent ack
	if oldest.IsZero() {
		return time.Time{}
	}
	return oldest.Add(l.duration)
}

// Renewals delivers a value when a read found the lease about to expire:
// the receiver should run one VerifyLeader round (which renews it).
func (l *Lease) Renewals() <-chan struct{} { return l.renew }

// CountRound counts one VerifyLeader round run for reads (Stats).
func (l *Lease) CountRound() { l.rounds.Add(1) }

// Stats reports how many reads the lease served and how many rounds were
// counted with CountRound.
func (l *Lease) Stats() (leaseReads, rounds uint64) {
	return l.reads.Load(), l.rounds.Load()
}
