package raftlease

import (
	"time"

	"github.com/hashicorp/raft"
)

// Replica is what a lease read needs to know about the local replica.
type Replica struct {
	Raft *raft.Raft
	ID   raft.ServerID // this replica's server ID
	// ReadyTerm returns the newest term in which this replica, as leader,
	// has applied an entry of its own: before that its commit index may
	// not cover what earlier leaders committed.
	ReadyTerm func() uint64
}

// Read returns the index a linearizable read must wait for when r holds a
// valid lease, or false when the read must take the ReadIndex path.
func (l *Lease) Read(r Replica) (uint64, bool) {
	now := time.Now()
	term, exp := l.Check(r)
	if !now.Before(exp) {
		return 0, false
	}
	// Captured after the read started: it covers every write acknowledged
	// before, and no other leader can have committed anything by now.
	index := r.Raft.CommitIndex()
	if r.Raft.State() != raft.Leader || r.Raft.CurrentTerm() != term {
		return 0, false
	}
	if exp.Sub(now) < time.Duration(float64(l.duration)*renewBelow) {
		select {
		case l.renew <- struct{}{}:
		default: // a renewal is already wanted
		}
	}
	l.reads.Add(1)
	return index, true
}

// Check returns the term r leads, with reads ready, and when its lease of
// that term ends; the zero time means it has none.
func (l *Lease) Check(r Replica) (uint64, time.Time) {
	if !l.enabled || r.Raft.State() != raft.Leader {
		return 0, time.Time{}
	}
	term := r.Raft.CurrentTerm()
	if r.ReadyTerm() != term {
		return 0, time.Time{}
	}
	conf := r.Raft.GetConfiguration() // answered without the main loop
	if conf.Error() != nil {
		return 0, time.Time{}
	}
	return term, l.Expiry(term, r.ID, conf.Configuration().Servers)
}
