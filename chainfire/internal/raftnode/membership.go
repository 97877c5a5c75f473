package raftnode

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// Server is one entry of the Raft configuration.
type Server struct {
	ID      raft.ServerID
	Address raft.ServerAddress
	// Learner: the server receives the log but does not vote (a
	// hashicorp/raft nonvoter, etcd's learner).
	Learner bool
}

// Configuration returns the latest Raft configuration this replica knows,
// committed or not.
func (n *Node) Configuration() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, mapRaftError(err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: s.ID, Address: s.Address, Learner: s.Suffrage != raft.Voter})
	}
	return out, nil
}

// AddVoter adds (or promotes, or readdresses) a voting server and waits
// until the configuration change is committed. Only the leader can.
func (n *Node) AddVoter(ctx context.Context, id raft.ServerID, addr raft.ServerAddress) error {
	return n.await(ctx, func(timeout time.Duration) raft.Future {
		return n.raft.AddVoter(id, addr, 0, timeout)
	})
}

// AddLearner adds (or readdresses) a non-voting server.
func (n *Node) AddLearner(ctx context.Context, id raft.ServerID, addr raft.ServerAddress) error {
	return n.await(ctx, func(timeout time.Duration) raft.Future {
		return n.raft.AddNonvoter(id, addr, 0, timeout)
	})
}

// RemoveServer removes a server from the configuration.
func (n *Node) RemoveServer(ctx context.Context, id raft.ServerID) error {
	return n.await(ctx, func(timeout time.Duration) raft.Future {
		return n.raft.RemoveServer(id, 0, timeout)
	})
}

// TransferLeadership hands leadership to the given server, or to the most
// up-to-date voter when id is empty, and waits for the hand-over.
func (n *Node) TransferLeadership(ctx context.Context, id raft.ServerID, addr raft.ServerAddress) error {
	return n.await(ctx, func(time.Duration) raft.Future {
		if id == "" {
			return n.raft.LeadershipTransfer()
		}
		return n.raft.LeadershipTransferToServer(id, addr)
	})
}

// await runs a leader-only raft operation bounded by ctx.
func (n *Node) await(ctx context.Context, start func(timeout time.Duration) raft.Future) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	timeout := time.Duration(0)
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return context.DeadlineExceeded
		}
	}
	return mapRaftError(awaitFuture(ctx, start(timeout)))
}
