package store

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Lease reads (TiKV's LeaseRead). A ReadIndex costs a heartbeat round to a
// quorum per batch of reads, and with many regions reads hardly batch per
// region. A leader that knows no other leader can exist yet reads its
// commit index without that round.
//
// Why no other leader can exist (hashicorp/raft v1.7.3, raft.go):
//
//   - A follower that accepts an AppendEntries (heartbeat or append) sets
//     the sender as its leader and its last contact to now
//     (appendEntries).
//   - It rejects every RequestVote and pre-vote while it has a leader,
//     unless the request carries the LeadershipTransfer flag
//     (requestVote, requestPreVote).
//   - It forgets its leader only when its heartbeat timer fires at least
//     HeartbeatTimeout after its last contact (runFollower), or when it
//     restarts.
//
// So once a quorum of voters accepted an AppendEntries of term T that this
// leader sent at time ts, none of them votes for anyone else before
// ts + HeartbeatTimeout by its own clock, and a rival needs a vote from at
// least one of them: no other leader exists before then. The lease ends
// earlier, at ts + leaseFraction × HeartbeatTimeout, the rest being the
// margin for clock rate differences. HeartbeatTimeout of followers is the
// store's ElectionTimeout: quiescing (quiesce.go) only raises a leader's
// own timeouts, never a follower's, so it does not shorten anything here.
// Every store of a cluster must run with the same election timeout.
//
// The lease is evaluated on every read against what holds right then:
//
//   - ts is the send time of the newest AppendEntries each voter accepted
//     (leaseTransport records it; raft's own heartbeats, every
//     HeartbeatTimeout/10 to /5, keep it fresh with no extra traffic);
//   - the quorum is counted in the current latest configuration, so a
//     membership change is taken into account by the next read (a single
//     server change keeps any two majorities of the old and the new
//     configuration overlapping, and raft appends one at a time);
//   - acks count only for the term this replica leads now, and only once
//     the term's first entry is applied (readyTerm), as for ReadIndex;
//   - a leadership transfer makes followers vote although they have a
//     leader, so the lease of the term ends for good before TimeoutNow is
//     sent (leaseTransport.TimeoutNow).
//
// A split needs nothing more: a read captures the commit index after it
// started and waits until it is applied, and a split's child can have a
// leader only after its stores applied the split, which this leader had
// committed before; the replica then rejects keys that moved.
//
// When the lease is missing or has expired, the read falls back to
// ReadIndex (readindex.go), whose VerifyLeader round also renews the
// lease for the reads after it. A read that finds the lease about to
// expire asks the read loop for a round in the background. No timer runs
// per region, so idle regions stay quiet.
//
// A follower that restarts forgets its leader and would vote at once,
// possibly inside the lease of a leader it acked before. So, as TiKV
// does, a replica refuses every RequestVote and pre-vote that is not a
// leadership transfer for one ElectionTimeout (followers'
// HeartbeatTimeout) after it starts, whether the store restarted or the
// replica was created (votehold.go). Its last ack was sent before it
// started, so the hold outlasts every lease that ack fed. Elections after
// a start, including a new cluster's first, wait one timeout longer; a
// single-voter region votes for itself without the transport.
//
// What remains: the argument still assumes every store runs the same
// election timeout and that monotonic clocks run at rates within the
// margin (1 - leaseFraction) of each other; a store started with a
// shorter timeout, or a clock running that much faster, can break it.
// Raft state lost with a disk (a replica restarted empty) is outside
// raft's own guarantees.
const leaseFraction = 0.8

// leaseRenewBelow: a read that finds less than this fraction of the lease
// left starts a renewal round.
const leaseRenewBelow = 0.25

// leaseState is one peer's lease bookkeeping.
type leaseState struct {
	enabled  bool
	duration time.Duration
	renew    chan struct{} // capacity 1: a renewal round is wanted

	mu      sync.Mutex
	term    uint64                      // the term acks belong to
	acks    map[raft.ServerID]time.Time // send time of each voter's newest accepted append
	revoked uint64                      // no lease in terms <= revoked

	reads  atomic.Uint64 // reads served by the lease
	rounds atomic.Uint64 // VerifyLeader rounds (ReadIndex and renewals)
}

func newLeaseState(enabled bool, electionTimeout time.Duration) *leaseState {
	return &leaseState{
		enabled:  enabled,
		duration: time.Duration(float64(electionTimeout) * leaseFraction),
		renew:    make(chan struct{}, 1),
		acks:     map[raft.ServerID]time.Time{},
	}
}

// acked records that follower id accepted an AppendEntries of term that
// was sent at sent.
func (l *leaseState) acked(term uint64, id raft.ServerID, sent time.Time) {
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

// revoke ends the lease of every term up to term.
func (l *leaseState) revoke(term uint64) {
	l.mu.Lock()
	l.revoked = max(l.revoked, term)
	l.mu.Unlock()
}

// expiry is when the lease of term ends for a leader self with the given
// configuration; the zero time means there is none.
func (l *leaseState) expiry(term uint64, self raft.ServerID, conf []raft.Server) time.Time {
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

// LeaseStats reports how many reads this replica served by its lease and
// how many VerifyLeader rounds it ran (ReadIndex reads and renewals).
func (p *Peer) LeaseStats() (leaseReads, rounds uint64) {
	return p.lease.reads.Load(), p.lease.rounds.Load()
}
