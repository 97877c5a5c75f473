package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Membership changes (PD's replica checker) work in three steps, driven by
// the region's leader when a region heartbeat answer asks for one:
//
//  1. Add: the leader asks the target store to create an EMPTY replica
//     (AdminService.CreatePeer → Store.CreatePeer). It has a Raft group
//     with no configuration and no data; it never campaigns, and its peer
//     id is kept in a small file so a restart brings it back.
//  2. The leader compacts its log behind a fresh snapshot and changes the
//     Raft configuration (AddVoter / AddNonvoter / RemoveServer). The new
//     replica's log is empty, so Raft can only bring it up to date with
//     that snapshot: it installs the region's data, range and applied
//     index in one engine batch before it applies anything.
//  3. The leader proposes a ChangePeer command so every replica records the
//     new peer list and conf_ver in the region's metadata.
//
// A crash between the steps leaves Raft and the metadata disagreeing only
// until PD repeats the (same) instruction: every step is idempotent.
//
// Explicit creation (rather than creating a replica on the first Raft
// message for an unknown region) means a store never builds a region from
// a stray or late message, e.g. for a split child whose parent it has not
// split yet.

const peerIDFile = "peer-id"

// CreatePeer creates an empty replica of regionID with peer id peerID on
// this store, to be filled by a snapshot from the region's leader. It is
// idempotent.
func (s *Store) CreatePeer(ctx context.Context, regionID, peerID uint64) error {
	if regionID == 0 || peerID == 0 {
		return fmt.Errorf("%w: create peer needs a region id and a peer id", region.ErrInvalidArgument)
	}
	if p := s.Peer(regionID); p != nil {
		if p.peerID != peerID {
			return fmt.Errorf("%w: store already hosts region %d as peer %d", region.ErrInvalidArgument, regionID, p.peerID)
		}
		return nil
	}
	dir := filepath.Join(s.cfg.DataDir, "regions", strconv.FormatUint(regionID, 10))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(dir, peerIDFile), []byte(strconv.FormatUint(peerID, 10))); err != nil {
		return fmt.Errorf("create peer: %w", err)
	}
	_, err := s.addPeer(nil, regionID, peerID, nil)
	return err
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// loadEmptyPeers restarts replicas created by CreatePeer that had not yet
// received their snapshot.
func (s *Store) loadEmptyPeers(loaded map[uint64]bool) error {
	root := filepath.Join(s.cfg.DataDir, "regions")
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		id, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || loaded[id] {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(root, e.Name(), peerIDFile))
		if err != nil {
			continue // a destroyed region's leftovers
		}
		peerID, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil {
			continue
		}
		if _, err := s.addPeer(nil, id, peerID, nil); err != nil {
			return err
		}
	}
	return nil
}

// ChangePeer carries out one membership change on a region this store
// leads (see the steps above).
func (s *Store) ChangePeer(ctx context.Context, regionID uint64, op *flaredbv1.ChangePeerOperator) error {
	p := s.Peer(regionID)
	if p == nil {
		return region.RegionNotFoundError(regionID)
	}
	meta := p.Region()
	if meta == nil || !p.IsLeader() {
		return p.notLeader()
	}
	target := op.GetPeer()
	if target.GetId() == 0 || target.GetStoreId() == 0 {
		return adminErr(regionID, "change peer needs a peer id and a store id")
	}
	if op.GetRemove() {
		return s.removePeer(ctx, p, meta, target)
	}
	return s.addOrPromote(ctx, p, meta, target)
}

func (s *Store) removePeer(ctx context.Context, p *Peer, meta *flaredbv1.Region, target *flaredbv1.Peer) error {
	if target.GetId() == p.peerID {
		// A leader does not remove itself: it hands leadership over, and
		// the next leader carries out PD's repeated instruction.
		return p.await(ctx, p.raft.LeadershipTransfer())
	}
	if err := p.await(ctx, p.raft.RemoveServer(serverID(target.GetId()), 0, 10*time.Second)); err != nil {
		return fmt.Errorf("remove server: %w", err)
	}
	if s.findPeer(meta, target.GetId()) == nil {
		return nil
	}
	return s.proposeChangePeer(ctx, p, meta, flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_REMOVE, target)
}

func (s *Store) addOrPromote(ctx context.Context, p *Peer, meta *flaredbv1.Region, target *flaredbv1.Peer) error {
	learner := target.GetRole() == flaredbv1.PeerRole_PEER_ROLE_LEARNER
	cur := s.findPeer(meta, target.GetId())
	if cur != nil && (learner || cur.GetRole() != flaredbv1.PeerRole_PEER_ROLE_LEARNER) {
		return nil // already done
	}
	addr, err := s.storeAddr(ctx, target.GetStoreId())
	if err != nil {
		return err
	}
	if cur == nil {
		if err := s.prepareNewPeer(ctx, p, target); err != nil {
			return err
		}
	}
	var f raft.IndexFuture
	kind := flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_VOTER
	if learner {
		kind = flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_LEARNER
		f = p.raft.AddNonvoter(serverID(target.GetId()), raft.ServerAddress(addr), 0, 10*time.Second)
	} else {
		f = p.raft.AddVoter(serverID(target.GetId()), raft.ServerAddress(addr), 0, 10*time.Second)
	}
	if err := p.await(ctx, f); err != nil {
		return fmt.Errorf("raft add server: %w", err)
	}
	return s.proposeChangePeer(ctx, p, meta, kind, target)
}

// prepareNewPeer creates the empty replica on the target store and makes
// sure the leader can only catch it up with a snapshot.
func (s *Store) prepareNewPeer(ctx context.Context, p *Peer, target *flaredbv1.Peer) error {
	if s.cfg.CreatePeer == nil || s.pd == nil {
		return errors.New("add peer: no way to reach the target store")
	}
	resp, err := s.pd.GetStore(ctx, &flaredbv1.GetStoreRequest{StoreId: target.GetStoreId()})
	if err != nil {
		return fmt.Errorf("add peer: resolve store %d: %w", target.GetStoreId(), err)
	}
	if err := s.cfg.CreatePeer(ctx, resp.GetStore(), p.regionID, target.GetId()); err != nil {
		return fmt.Errorf("add peer: create on store %d: %w", target.GetStoreId(), err)
	}
	return p.compactLog(ctx)
}

// CompactLog takes a snapshot of the region and drops every log entry
// behind it, so a follower that is behind can only catch up from a
// snapshot (what tests of lagging replicas need; raft on its own compacts
// at its next snapshot interval).
func (p *Peer) CompactLog(ctx context.Context) error { return p.compactLog(ctx) }

// compactLog takes a snapshot and drops every log entry behind it.
func (p *Peer) compactLog(ctx context.Context) error {
	old := p.raft.ReloadableConfig()
	tight := old
	tight.TrailingLogs = 0
	if err := p.raft.ReloadConfig(tight); err != nil {
		return err
	}
	defer func() { _ = p.raft.ReloadConfig(old) }()
	// An applied entry guarantees the snapshot is new, so the compaction
	// really happens even right after an earlier snapshot.
	if err := p.await(ctx, p.raft.Apply(nil, 10*time.Second)); err != nil {
		return fmt.Errorf("snapshot before adding a peer: %w", err)
	}
	if err := p.await(ctx, p.raft.Snapshot()); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("snapshot before adding a peer: %w", err)
	}
	return nil
}

func (s *Store) findPeer(meta *flaredbv1.Region, id uint64) *flaredbv1.Peer {
	for _, q := range meta.GetPeers() {
		if q.GetId() == id {
			return q
		}
	}
	return nil
}

func (s *Store) proposeChangePeer(ctx context.Context, p *Peer, meta *flaredbv1.Region, kind flaredbv1.ChangePeerType, target *flaredbv1.Peer) error {
	cmd := &flaredbv1.RaftCommand{
		Header: &flaredbv1.RaftCommandHeader{RegionId: meta.GetId(), Epoch: meta.GetEpoch()},
		Command: &flaredbv1.RaftCommand_ChangePeer{ChangePeer: &flaredbv1.ChangePeerCommand{
			ChangeType: kind, Peer: &flaredbv1.Peer{Id: target.GetId(), StoreId: target.GetStoreId(), Role: target.GetRole()},
		}},
	}
	_, err := p.propose(ctx, cmd)
	return err
}
