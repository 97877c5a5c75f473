package store

import (
	"time"

	"github.com/hashicorp/raft"
)

// leaseRead returns the index a linearizable read must wait for when this
// replica holds a valid lease (lease.go), or false when the read must take
// the ReadIndex path.
func (p *Peer) leaseRead() (uint64, bool) {
	now := time.Now()
	term, exp := p.leaseExpiry()
	if !now.Before(exp) {
		return 0, false
	}
	// Captured after the read started: it covers every write acknowledged
	// before, and no other leader can have committed anything by now.
	index := p.raft.CommitIndex()
	if p.raft.State() != raft.Leader || p.raft.CurrentTerm() != term {
		return 0, false
	}
	l := p.lease
	if exp.Sub(now) < time.Duration(float64(l.duration)*leaseRenewBelow) {
		select {
		case l.renew <- struct{}{}:
		default: // a renewal is already wanted
		}
	}
	l.reads.Add(1)
	return index, true
}

// leaseExpiry returns the term this replica leads, with reads ready, and
// when its lease of that term ends; the zero time means it has none.
func (p *Peer) leaseExpiry() (uint64, time.Time) {
	if !p.lease.enabled || p.raft.State() != raft.Leader {
		return 0, time.Time{}
	}
	term := p.raft.CurrentTerm()
	if p.readyTerm.Load() != term {
		return 0, time.Time{}
	}
	conf := p.raft.GetConfiguration() // answered without the main loop
	if conf.Error() != nil {
		return 0, time.Time{}
	}
	return term, p.lease.expiry(term, serverID(p.peerID), conf.Configuration().Servers)
}
