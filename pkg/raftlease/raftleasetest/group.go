package raftleasetest

import (
	"time"

	"github.com/hashicorp/raft"

	"github.com/photoncloud/core/pkg/raftlease"
)

// Replica is one member of a raft group under test.
type Replica interface {
	// IsLeader reports whether the member leads its group now.
	IsLeader() bool
	// Raft is the member's raft instance.
	Raft() *raft.Raft
	// LeaseRead reports whether the member would serve a read by its
	// lease now.
	LeaseRead() bool
	// LeaseExpiry is when the member's lease of its current term ends;
	// the zero time means it has none.
	LeaseExpiry() time.Time
	// Lease is the member's lease bookkeeping.
	Lease() *raftlease.Lease
	// CloseStreams drops the member's pooled outgoing raft streams.
	CloseStreams()
	// Hold is the member's vote hold.
	Hold() *raftlease.VoteHold
}

// Group is a raft group under test, its members numbered from 0.
type Group interface {
	// Size is the number of members.
	Size() int
	// Replica is member i as it runs now.
	Replica(i int) Replica
	// Cut cuts (cut true) or heals the link between members i and j, in
	// both directions.
	Cut(i, j int, cut bool)
	// Restart closes member i and starts it again on its files.
	Restart(i int) Replica
}
