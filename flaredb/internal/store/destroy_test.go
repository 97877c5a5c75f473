package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// errCrash stops a destroy the way a crash would.
var errCrash = errors.New("stopped by the test")

// reopen closes st and opens a store on its data dir and raft address, as
// a process restart would, and starts its loops.
func reopen(t *testing.T, st *Store) *Store {
	t.Helper()
	cfg := st.cfg
	cfg.RaftAddr = st.RaftAddr()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := Open(cfg, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	st.Run()
	return st
}

// proposeRetry proposes cmd through regionID until it applies (a group
// just started has no leader yet) or cmd returns none (done already).
func proposeRetry(t *testing.T, st *Store, regionID uint64, cmd func() (*flaredbv1.Context, *flaredbv1.RaftCommand)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rc, c := cmd()
		if c == nil {
			return
		}
		_, err := st.Propose(context.Background(), rc, c)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("propose through region %d: %v", regionID, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// removeOwnPeer records in region 1's metadata (as the leader's
// ChangePeer entries do) a peer 12 on store 2 joining and then this
// store's peer 11 leaving, at conf_ver 3; applying the removal starts the
// destroy of the replica.
func removeOwnPeer(t *testing.T, st *Store) {
	t.Helper()
	for _, step := range []struct {
		kind flaredbv1.ChangePeerType
		peer *flaredbv1.Peer
	}{
		{flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_VOTER, &flaredbv1.Peer{Id: 12, StoreId: 2}},
		{flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_REMOVE, &flaredbv1.Peer{Id: 11, StoreId: 1}},
	} {
		proposeRetry(t, st, 1, func() (*flaredbv1.Context, *flaredbv1.RaftCommand) {
			p := st.Peer(1)
			if p == nil && step.kind == flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_REMOVE {
				// Applied, and the destroy stopped the group before the
				// proposal heard back.
				return nil, nil
			}
			if p == nil {
				t.Fatal("region 1 gone before its peer was removed")
			}
			meta := p.Region()
			cmd := &flaredbv1.RaftCommand{
				Header: &flaredbv1.RaftCommandHeader{RegionId: 1, Epoch: meta.GetEpoch()},
				Command: &flaredbv1.RaftCommand_ChangePeer{ChangePeer: &flaredbv1.ChangePeerCommand{
					ChangeType: step.kind, Peer: step.peer}},
			}
			return &flaredbv1.Context{RegionId: 1, RegionEpoch: meta.GetEpoch()}, cmd
		})
	}
}

// checkDestroyed checks that region 1's replica is wholly gone (data but
// for the child's range, Raft log, directory; not served) and that the
// store still serves region 2 with its data, and takes writes.
func checkDestroyed(t *testing.T, st *Store) {
	t.Helper()
	checkStaleGone(t, st)
	if p := st.Peer(1); p != nil {
		t.Fatalf("region 1 is still served, as peer %d", p.PeerID())
	}
	rc := &flaredbv1.Context{RegionId: 1, RegionEpoch: &flaredbv1.RegionEpoch{ConfVer: 3, Version: 1}}
	if _, err := st.Propose(context.Background(), rc, region.PutCommand(&flaredbv1.PutRequest{Context: rc, Key: []byte("k05"), Value: []byte("x")})); err == nil {
		t.Fatal("a write through region 1 was accepted")
	}
	if has, err := st.rlog.HasState(1); err != nil || has {
		t.Fatalf("region 1's raft log: has state %v, err %v; want dropped", has, err)
	}
	if _, err := os.Stat(st.regionDir(1)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("region 1's directory: stat err %v; want it deleted", err)
	}
	if p := st.Peer(2); p == nil || p.PeerID() != 21 || p.Region() == nil {
		t.Fatalf("region 2 replica = %v, want peer 21", p)
	}
	epoch := &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1}
	proposeRetry(t, st, 2, func() (*flaredbv1.Context, *flaredbv1.RaftCommand) {
		rc := &flaredbv1.Context{RegionId: 2, RegionEpoch: epoch}
		return rc, region.PutCommand(&flaredbv1.PutRequest{Context: rc, Key: []byte("k25x"), Value: []byte("after")})
	})
}

// TestInterruptedDestroyFinishesAfterRestart: a store stopped at any step
// of destroying its removed replica of region 1 (whose range overlaps
// region 2's, which the store also hosts) finishes the destroy when it
// starts again, and a second restart changes nothing. The replica was
// born a member (bootstrap), or created by CreatePeer (it has a peer-id
// file with the conf_ver it was created at).
func TestInterruptedDestroyFinishesAfterRestart(t *testing.T) {
	steps := []string{destroyDetached, destroyUnmarked, destroyTombstoned, destroyLogDropped, ""}
	for _, created := range []bool{false, true} {
		for _, at := range steps {
			name := fmt.Sprintf("stopped after %q", at)
			if at == "" {
				name = "not stopped"
			}
			if created {
				name = "created by CreatePeer, " + name
			}
			t.Run(name, func(t *testing.T) {
				st := staleStore(t)
				if created {
					if err := writePeerFile(st.regionDir(1), 11, &flaredbv1.Region{Epoch: &flaredbv1.RegionEpoch{ConfVer: 1}}); err != nil {
						t.Fatal(err)
					}
				}
				stopped := make(chan struct{})
				st.destroyHook = func(regionID uint64, step string) error {
					if regionID != 1 || step != at {
						return nil
					}
					close(stopped)
					return errCrash
				}
				removeOwnPeer(t, st)
				if at != "" {
					select {
					case <-stopped:
					case <-time.After(30 * time.Second):
						t.Fatal("the destroy never reached the step")
					}
				} else {
					waitUntil(t, "region 1's directory deleted", func() bool {
						_, err := os.Stat(st.regionDir(1))
						return errors.Is(err, os.ErrNotExist)
					})
				}
				if p := st.Peer(1); p != nil {
					t.Fatalf("region 1 still served after its destroy started: peer %d", p.PeerID())
				}
				st = reopen(t, st)
				checkDestroyed(t, st)
				st = reopen(t, st)
				checkDestroyed(t, st)
			})
		}
	}
}

// newStore opens a store with no regions.
func newStore(t *testing.T) *Store {
	t.Helper()
	cfg := Config{StoreID: 1, DataDir: t.TempDir(), RaftAddr: "127.0.0.1:0",
		ElectionTimeout: 200 * time.Millisecond, RaftLogOutput: io.Discard}
	st, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// checkEmptyPeer checks that regionID is hosted as the empty peer id,
// waiting for its snapshot, with its peer-id file.
func checkEmptyPeer(t *testing.T, st *Store, regionID, id uint64) {
	t.Helper()
	if p := st.Peer(regionID); p == nil || p.PeerID() != id || p.Region() != nil {
		t.Fatalf("region %d replica = %v, want the empty peer %d", regionID, p, id)
	}
	if saved, ok := st.savedPeer(regionID); !ok || saved.id != id {
		t.Fatalf("region %d peer-id file = %+v (%v), want peer %d", regionID, saved, ok, id)
	}
}

// TestRestartKeepsEmptyPeers: a new empty peer waiting for its snapshot
// is not taken for a destroyed replica's leftovers on restart, neither on
// its own nor where an earlier replica of the region was destroyed (a
// tombstone).
func TestRestartKeepsEmptyPeers(t *testing.T) {
	st := staleStore(t)
	removeOwnPeer(t, st)
	waitUntil(t, "region 1's directory deleted", func() bool {
		_, err := os.Stat(st.regionDir(1))
		return errors.Is(err, os.ErrNotExist)
	})
	ctx := context.Background()
	// PD adds the region to this store again, and another region.
	again := &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 3, Version: 1},
		Peers: []*flaredbv1.Peer{{Id: 12, StoreId: 2}}}
	if err := st.CreatePeer(ctx, 1, 13, again); err != nil {
		t.Fatal(err)
	}
	other := &flaredbv1.Region{Id: 5, Epoch: &flaredbv1.RegionEpoch{ConfVer: 4, Version: 2},
		Peers: []*flaredbv1.Peer{{Id: 52, StoreId: 2}, {Id: 53, StoreId: 3}}}
	if err := st.CreatePeer(ctx, 5, 51, other); err != nil {
		t.Fatal(err)
	}
	checkEmptyPeer(t, st, 1, 13)
	checkEmptyPeer(t, st, 5, 51)
	st = reopen(t, st)
	checkEmptyPeer(t, st, 1, 13)
	checkEmptyPeer(t, st, 5, 51)
	checkStaleGone(t, st) // region 1's tombstone stays until a snapshot
}

// TestRestartKeepsReplicaBeingAdded: a replica created by CreatePeer and
// filled by a snapshot taken before the region's metadata listed it (the
// leader adds it to the Raft configuration first, then to the metadata)
// is not destroyed on restart, though its metadata has no peer on this
// store, and runs again under the peer id in its peer-id file.
func TestRestartKeepsReplicaBeingAdded(t *testing.T) {
	for _, confVer := range []uint64{4, 5} { // created at conf_ver 4
		t.Run(fmt.Sprintf("conf_ver %d", confVer), func(t *testing.T) {
			st := newStore(t)
			meta := &flaredbv1.Region{Id: 7, StartKey: []byte("m00"), EndKey: []byte("m10"),
				Epoch: &flaredbv1.RegionEpoch{ConfVer: confVer, Version: 2},
				Peers: []*flaredbv1.Peer{{Id: 71, StoreId: 2}, {Id: 72, StoreId: 3}}}
			if err := os.MkdirAll(st.regionDir(7), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := writePeerFile(st.regionDir(7), 73, &flaredbv1.Region{Epoch: &flaredbv1.RegionEpoch{ConfVer: 4}}); err != nil {
				t.Fatal(err)
			}
			if _, err := region.Create(st.eng, meta); err != nil {
				t.Fatal(err)
			}
			b := st.eng.NewBatch()
			if err := b.PutData([]byte("m05"), []byte("seven")); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			_ = b.Close()
			st = reopen(t, st)
			p := st.Peer(7)
			if p == nil || p.PeerID() != 73 || p.Region().GetEpoch().GetConfVer() != confVer {
				t.Fatalf("region 7 replica = %v, want peer 73 with its metadata", p)
			}
			v := st.eng.NewSnapshot()
			defer func() { _ = v.Close() }()
			if val, ok, err := v.GetData([]byte("m05")); err != nil || !ok || string(val) != "seven" {
				t.Fatalf("m05 = %q (present %v, err %v), want kept", val, ok, err)
			}
		})
	}
}
