package raftnode_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
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

// countingFSM is the real state machine, counting snapshot restores.
type countingFSM struct {
	*apply.Applier
	restores atomic.Int32
}

func (c *countingFSM) Restore(rc io.ReadCloser) error {
	c.restores.Add(1)
	return c.Applier.Restore(rc)
}

// singleNode is a one-member cluster on dir, restartable.
type singleNode struct {
	t    *testing.T
	dir  string
	addr string

	store *mvcc.Store
	fsm   *countingFSM
	node  *raftnode.Node
}

func (s *singleNode) kvPath() string { return filepath.Join(s.dir, "kv.db") }

func (s *singleNode) start() {
	s.t.Helper()
	store, err := mvcc.Open(s.kvPath(), mvcc.Options{})
	if err != nil {
		s.t.Fatal(err)
	}
	a, err := apply.New(store, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	fsm := &countingFSM{Applier: a}
	node, err := raftnode.Start(raftnode.Config{
		ID:              "a",
		DataDir:         filepath.Join(s.dir, "raft"),
		PeerListen:      s.addr,
		Bootstrap:       true,
		InitialPeers:    []raftnode.Peer{{ID: "a", Address: raft.ServerAddress(s.addr)}},
		ElectionTimeout: 300 * time.Millisecond,
		RaftLogOutput:   io.Discard,
	}, fsm)
	if err != nil {
		store.Close()
		s.t.Fatal(err)
	}
	s.store, s.fsm, s.node = store, fsm, node
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		bctx, bcancel := context.WithTimeout(ctx, time.Second)
		err := node.LinearizableBarrier(bctx)
		bcancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			s.t.Fatalf("single node never became a serving leader: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *singleNode) stop() {
	s.t.Helper()
	if err := s.node.Close(); err != nil {
		s.t.Fatal(err)
	}
	if err := s.store.Close(); err != nil {
		s.t.Fatal(err)
	}
	s.node = nil
}

func (s *singleNode) put(key, value string) {
	s.t.Helper()
	data, err := proto.Marshal(&chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Put{
		Put: &pb.PutRequest{Key: []byte(key), Value: []byte(value)},
	}})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := s.node.Propose(ctx, data)
	if err != nil {
		s.t.Fatalf("put %s: %v", key, err)
	}
	if res, ok := out.(*apply.Result); !ok || res.Err != nil {
		s.t.Fatalf("put %s: %+v", key, out)
	}
}

func (s *singleNode) value(key string) string {
	s.t.Helper()
	res, err := s.store.Range([]byte(key), nil, mvcc.RangeOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	if len(res.KVs) == 0 {
		return ""
	}
	return string(res.KVs[0].Value)
}

// TestStartRestoresSnapshotTheStoreMissed: a snapshot received from the
// leader is saved before it is restored into the store, so a crash in
// between leaves a saved snapshot newer than the store. On the next start
// the node must restore it rather than trust the store to hold everything up
// to the snapshot (NoSnapshotRestoreOnStart), or the entries the snapshot
// covers are never applied here. A store that is current is not restored.
func TestStartRestoresSnapshotTheStoreMissed(t *testing.T) {
	s := &singleNode{t: t, dir: t.TempDir(), addr: servertest.FreeAddr(t)}
	t.Cleanup(func() {
		if s.node != nil {
			s.stop()
		}
	})
	s.start()
	s.put("early", "1")

	// The store as it was before the snapshot's later entries.
	stale := filepath.Join(s.dir, "stale.db")
	f, err := os.Create(stale)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.WriteSnapshot(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		s.put(fmt.Sprintf("late/%d", i), "2")
	}
	if err := s.node.Raft().Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	s.stop()

	// Crash between saving the snapshot and restoring it: the store file is
	// the older one.
	if err := os.Rename(stale, s.kvPath()); err != nil {
		t.Fatal(err)
	}
	s.start()
	for i := range 10 {
		if got := s.value(fmt.Sprintf("late/%d", i)); got != "2" {
			t.Fatalf("late/%d = %q after restart, want 2: entries covered by the snapshot were skipped", i, got)
		}
	}
	if got := s.value("early"); got != "1" {
		t.Fatalf("early = %q, want 1", got)
	}
	if got := s.fsm.restores.Load(); got != 1 {
		t.Fatalf("a store behind the newest snapshot was restored %d times on start, want 1", got)
	}
	s.put("after", "3")
	s.stop()

	// A normal restart: the store is current, nothing is restored, nothing
	// is lost.
	s.start()
	if got := s.fsm.restores.Load(); got != 0 {
		t.Fatalf("a current store was restored %d times on start", got)
	}
	if got := s.value("after"); got != "3" {
		t.Fatalf("after = %q, want 3", got)
	}
}
