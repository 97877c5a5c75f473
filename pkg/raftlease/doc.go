// Package raftlease gives a hashicorp/raft leader lease reads (TiKV's
// LeaseRead): a leader that knows no other leader can exist yet serves a
// linearizable read from its commit index, without the heartbeat round to
// a quorum that VerifyLeader (ReadIndex) costs.
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
// earlier, at ts + Fraction × HeartbeatTimeout, the rest being the margin
// for clock rate differences. The timeout given to New must be the
// followers' raft HeartbeatTimeout, and every member of a group must run
// with the same one.
//
// The lease is evaluated on every read against what holds right then
// (Lease.Read):
//
//   - ts is the send time of the newest AppendEntries each voter accepted
//     (Transport records it; raft's own heartbeats, every
//     HeartbeatTimeout/10 to /5, keep it fresh with no extra traffic);
//   - the quorum is counted in the current latest configuration, so a
//     membership change is taken into account by the next read (a single
//     server change keeps any two majorities of the old and the new
//     configuration overlapping, and raft appends one at a time);
//   - acks count only for the term the replica leads now, and only once
//     the term's first entry is applied (the caller's ready term), as for
//     ReadIndex;
//   - a leadership transfer makes followers vote although they have a
//     leader, so the lease of the term ends for good before TimeoutNow is
//     sent (Transport.TimeoutNow).
//
// When the lease is missing or has expired the caller falls back to
// ReadIndex, whose VerifyLeader round also renews the lease for the reads
// after it. A read that finds the lease about to expire asks, through
// Lease.Renewals, for a round in the background. No timer runs, so idle
// groups stay quiet.
//
// A follower that restarts forgets its leader and would vote at once,
// possibly inside the lease of a leader it acked before. So, as TiKV
// does, a replica refuses every RequestVote and pre-vote that is not a
// leadership transfer for one election timeout (followers'
// HeartbeatTimeout) after it starts (VoteHold). Its last ack was sent
// before it started, so the hold outlasts every lease that ack fed.
// Elections after a start, including a new cluster's first, wait one
// timeout longer; a single voter votes for itself without the transport.
//
// What remains: the argument assumes every member runs the same election
// (follower heartbeat) timeout and that monotonic clocks run at rates
// within the margin (1 - Fraction) of each other; a member started with a
// shorter timeout, or a clock running that much faster, can break it. Raft
// state lost with a disk (a replica restarted empty) is outside raft's own
// guarantees.
package raftlease
