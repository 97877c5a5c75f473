package raftnode_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	"github.com/photoncloud/core/chainfire/internal/raftnode"
	"github.com/photoncloud/core/pkg/servertest"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// slowCommitTimeout makes raft's own commit propagation to idle followers
// take 3 to 6 seconds, so a follower that learns a commit much sooner was
// told by the commit notifier.
const slowCommitTimeout = 3 * time.Second

// startTrio starts a three-node cluster with the given notify setting and
// returns its nodes once one of them leads and is ready to serve reads.
func startTrio(t *testing.T, disableNotify bool) (leader *raftnode.Node, followers []*raftnode.Node) {
	t.Helper()
	ids := []raft.ServerID{"a", "b", "c"}
	var peers []raftnode.Peer
	for _, id := range ids {
		peers = append(peers, raftnode.Peer{ID: id, Address: raft.ServerAddress(servertest.FreeAddr(t))})
	}
	var nodes []*raftnode.Node
	for i, p := range peers {
		dir := t.TempDir()
		store, err := mvcc.Open(filepath.Join(dir, "kv.db"), mvcc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fsm, err := apply.New(store, nil)
		if err != nil {
			t.Fatal(err)
		}
		node, err := raftnode.Start(raftnode.Config{
			ID:                  p.ID,
			DataDir:             filepath.Join(dir, "raft"),
			PeerListen:          string(p.Address),
			Bootstrap:           true,
			InitialPeers:        peers,
			ElectionTimeout:     time.Second,
			CommitTimeout:       slowCommitTimeout,
			DisableCommitNotify: disableNotify,
			RaftLogOutput:       io.Discard,
		}, fsm)
		if err != nil {
			t.Fatalf("start node %d: %v", i, err)
		}
		t.Cleanup(func() {
			node.Close()
			store.Close()
		})
		nodes = append(nodes, node)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		for _, n := range nodes {
			bctx, bcancel := context.WithTimeout(ctx, time.Second)
			err := n.LinearizableBarrier(bctx)
			bcancel()
			if err == nil && n.IsLeader() {
				for _, f := range nodes {
					if f != n {
						followers = append(followers, f)
					}
				}
				return n, followers
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no ready leader within 30s")
	return nil, nil
}

// putOn proposes a put on the leader and returns the log index it got.
func putOn(t *testing.T, leader *raftnode.Node, key string) uint64 {
	t.Helper()
	data, err := proto.Marshal(&chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Put{
		Put: &pb.PutRequest{Key: []byte(key), Value: []byte("v")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := leader.Propose(ctx, data); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return leader.LastIndex()
}

// TestFollowersLearnCommitAtOnce: with no write after it, an entry's commit
// reaches the followers from the commit notifier, long before raft's own
// next append (CommitTimeout, 3 s here). With the notifier off they still
// have not seen it half a second later — the control that shows the
// notifier, not raft, moved them.
func TestFollowersLearnCommitAtOnce(t *testing.T) {
	const soon = 1500 * time.Millisecond // < slowCommitTimeout
	t.Run("notify", func(t *testing.T) {
		leader, followers := startTrio(t, false)
		for i := range 3 {
			index := putOn(t, leader, fmt.Sprintf("k%d", i))
			deadline := time.Now().Add(soon)
			for _, f := range followers {
				for f.CommitIndex() < index || f.Raft().AppliedIndex() < index {
					if time.Now().After(deadline) {
						t.Fatalf("write %d: a follower's commit index is %d, applied %d, %v after the leader applied %d",
							i, f.CommitIndex(), f.Raft().AppliedIndex(), soon, index)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		}
	})
	t.Run("raft-only", func(t *testing.T) {
		leader, followers := startTrio(t, true)
		index := putOn(t, leader, "k")
		time.Sleep(500 * time.Millisecond)
		for _, f := range followers {
			if got := f.CommitIndex(); got >= index {
				t.Fatalf("without the notifier a follower learned commit %d within 500ms (CommitTimeout %v): the test cannot tell the notifier's effect", got, slowCommitTimeout)
			}
		}
	})
}
