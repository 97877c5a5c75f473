package apply_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// batchedOpts keep applied batches in the store's open write transaction
// until something commits it explicitly: a crash loses all of them.
var batchedOpts = mvcc.Options{InitialMmapSize: -1, BatchInterval: time.Hour}

func openApplier(t *testing.T, path string) (*mvcc.Store, *apply.Applier) {
	t.Helper()
	s, err := mvcc.Open(path, batchedOpts)
	if err != nil {
		t.Fatalf("mvcc.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	a, err := apply.New(s, nil)
	if err != nil {
		t.Fatalf("apply.New: %v", err)
	}
	return s, a
}

// crashCopy copies the store file as kill -9 would leave it: bbolt writes
// nothing of the open transaction before it commits, and nothing here
// commits concurrently (the batch timer is an hour).
func crashCopy(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "crashed.db")
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// eventLog records every event an Applier publishes, by revision.
type eventLog struct{ revs []mvcc.Revision }

func (e *eventLog) Committed(_ int64, evs []mvcc.Event) {
	for _, ev := range evs {
		e.revs = append(e.revs, ev.Rev)
	}
}
func (e *eventLog) Restored(int64) {}

func leaseCmd(id, ttl int64) *chainfirev1.RaftCommand {
	return &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_LeaseGrant{LeaseGrant: &pb.LeaseGrantRequest{ID: id, TTL: ttl}}}
}

func revokeCmd(id int64) *chainfirev1.RaftCommand {
	return &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_LeaseRevoke{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}}}
}

// crashLog is a history touching keys, leases and both together, as
// Raft entries with consecutive indexes.
func crashLog(t *testing.T) []*raft.Log {
	var cmds []*chainfirev1.RaftCommand
	for i := range 12 {
		cmds = append(cmds, leaseCmd(int64(100+i), 60))
		cmds = append(cmds, putCmd(&pb.PutRequest{Key: []byte(fmt.Sprintf("k%02d", i)), Value: []byte("v1"), Lease: int64(100 + i)}))
		cmds = append(cmds, putCmd(&pb.PutRequest{Key: []byte(fmt.Sprintf("k%02d", (i*7)%12)), Value: []byte(fmt.Sprint("v", i))}))
		if i%3 == 2 {
			cmds = append(cmds, revokeCmd(int64(100+i-1)))
			cmds = append(cmds, delCmd(&pb.DeleteRangeRequest{Key: []byte(fmt.Sprintf("k%02d", i-2))}))
		}
		cmds = append(cmds, txnCmd(&pb.TxnRequest{Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("txn"), Value: []byte(fmt.Sprint(i))}}},
		}}))
	}
	logs := make([]*raft.Log, len(cmds))
	for i, c := range cmds {
		logs[i] = &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: marshal(t, c)}
	}
	return logs
}

// replState is everything replicated the test compares: keys with their
// revisions, the history hash, the revision and every lease with its keys.
func replState(t *testing.T, s *mvcc.Store, a *apply.Applier) string {
	t.Helper()
	res, err := s.Range([]byte{0}, []byte{0}, mvcc.RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "rev %d hash %x applied %d\n", s.Rev(), h.Hash, a.AppliedIndex())
	for _, kv := range res.KVs {
		fmt.Fprintf(&sb, "%s=%s@%d/%d/%d lease %d\n", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
	}
	for _, id := range a.Leases().IDs() {
		l, _ := a.Leases().Get(id)
		fmt.Fprintf(&sb, "lease %d ttl %d keys %v\n", id, l.TTL, l.Keys)
	}
	return sb.String()
}

// applyIn hands logs to a in batches of the given size, as Raft does.
func applyIn(a *apply.Applier, logs []*raft.Log, size int) []any {
	var out []any
	for i := 0; i < len(logs); i += size {
		out = append(out, a.ApplyBatch(logs[i:min(i+size, len(logs))])...)
	}
	return out
}

// TestCrashBeforeCommitReplaysFromRaftLog is etcd's recovery model at the
// state machine: entries applied (and answered) but not yet committed to
// bbolt are lost by a crash, the store reopens at its durable index with
// data and index consistent, and re-delivering the log from the start (Raft
// with no snapshot re-sends everything) skips what is durable and applies
// the rest once, with the same responses, revisions, leases and events.
func TestCrashBeforeCommitReplaysFromRaftLog(t *testing.T) {
	logs := crashLog(t)
	syncAt := len(logs) / 3
	for _, batch := range []int{1, 7, 64} {
		t.Run(fmt.Sprint("batch", batch), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			s, a := openApplier(t, path)
			first := applyIn(a, logs[:syncAt], batch)
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			durableRev := s.Rev()
			first = append(first, applyIn(a, logs[syncAt:], batch)...)
			want := replState(t, s, a)
			if s.DurableIndex() != uint64(syncAt) || a.AppliedIndex() != uint64(len(logs)) {
				t.Fatalf("durable %d applied %d, want %d and %d", s.DurableIndex(), a.AppliedIndex(), syncAt, len(logs))
			}

			s2, a2 := openApplier(t, crashCopy(t, path))
			if a2.AppliedIndex() != uint64(syncAt) || s2.Rev() != durableRev {
				t.Fatalf("after crash at index %d rev %d, want %d and %d", a2.AppliedIndex(), s2.Rev(), syncAt, durableRev)
			}
			events := &eventLog{}
			a2.Observe(events)
			replay := applyIn(a2, logs, batch+3) // other batch boundaries than before
			for i, r := range replay {
				if i < syncAt && r != nil {
					t.Fatalf("durable entry %d applied again: %v", i+1, r)
				}
				if i >= syncAt && fmt.Sprint(r) != fmt.Sprint(first[i]) {
					t.Fatalf("entry %d replayed as %v, first applied as %v", i+1, r, first[i])
				}
			}
			if got := replState(t, s2, a2); got != want {
				t.Fatalf("after replay:\n%s\nwant:\n%s", got, want)
			}
			// Exactly once: events for every revision after the durable
			// one, none for those before, none twice.
			if !slices.IsSortedFunc(events.revs, func(x, y mvcc.Revision) int { return cmpRev(x, y) }) ||
				len(slices.Compact(slices.Clone(events.revs))) != len(events.revs) {
				t.Fatalf("replayed events out of order or repeated: %v", events.revs)
			}
			if len(events.revs) == 0 || events.revs[0].Main != durableRev+1 || events.revs[len(events.revs)-1].Main != s2.Rev() {
				t.Fatalf("replayed events %v, want revisions %d..%d", events.revs, durableRev+1, s2.Rev())
			}
		})
	}
}

func cmpRev(x, y mvcc.Revision) int {
	switch {
	case x.Less(y):
		return -1
	case y.Less(x):
		return 1
	}
	return 0
}

// TestSnapshotMakesStoreDurable: Raft may compact its log up to a snapshot's
// index as soon as the snapshot exists, so taking one must first commit the
// store; a crash after it then loses nothing the log no longer has.
func TestSnapshotMakesStoreDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, a := openApplier(t, path)
	logs := crashLog(t)
	applyIn(a, logs, 5)
	if s.DurableIndex() != 0 {
		t.Fatalf("durable index %d before any commit", s.DurableIndex())
	}
	want := replState(t, s, a)
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	if s.DurableIndex() != uint64(len(logs)) {
		t.Fatalf("durable index %d after Snapshot, want %d", s.DurableIndex(), len(logs))
	}
	s2, a2 := openApplier(t, crashCopy(t, path))
	if got := replState(t, s2, a2); got != want {
		t.Fatalf("crash after snapshot:\n%s\nwant:\n%s", got, want)
	}
}
