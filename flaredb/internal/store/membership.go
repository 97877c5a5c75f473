package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
//
// A store that was down while its peer was removed comes back hosting the
// region under the old peer id, stale: CreatePeer replaces such a replica
// when the leader's metadata (sent with the request) proves it stale, and
// destroys it without touching ranges other replicas on the store hold
// (its old range can span split children the store was given since).

const peerIDFile = "peer-id"

// membership is the store's state for creating and destroying replicas.
type membership struct {
	// createMu serialises CreatePeer calls (PD repeats its instructions).
	createMu sync.Mutex
	// rangeMu keeps a snapshot from creating a replica's data while a
	// destroy works out and deletes the key ranges no other replica
	// covers (see destroyReplica).
	rangeMu sync.Mutex
}

// CreatePeer creates an empty replica of regionID with peer id peerID on
// this store, to be filled by a snapshot from the region's leader. leader
// is the leader's current metadata of the region. It is idempotent.
//
// A store that comes back after its peer was removed still hosts the
// region under the old peer id: it never applied its own removal, so it
// never destroyed itself. If PD then adds the region to this store again,
// under a new id, the old replica is stale (TiKV's rule: a peer whose
// conf_ver is older than the region's and that is no longer among its
// peers) and is destroyed first, but only when leader proves it (see
// provenStale); otherwise CreatePeer refuses.
func (s *Store) CreatePeer(ctx context.Context, regionID, peerID uint64, leader *flaredbv1.Region) error {
	if regionID == 0 || peerID == 0 {
		return fmt.Errorf("%w: create peer needs a region id and a peer id", region.ErrInvalidArgument)
	}
	s.members.createMu.Lock()
	defer s.members.createMu.Unlock()
	if p := s.Peer(regionID); p != nil {
		if p.peerID == peerID {
			return nil
		}
		err := errors.New("it has no metadata and its creation conf_ver is unknown")
		if local := p.Region(); local != nil {
			err = provenStale(local.GetEpoch().GetConfVer(), p.peerID, regionID, peerID, leader)
		} else if saved, ok := s.savedPeer(regionID); ok && saved.id == p.peerID && saved.hasConfVer {
			// Never initialised: the conf_ver it was created at stands in.
			err = provenStale(saved.confVer, p.peerID, regionID, peerID, leader)
		}
		if err != nil {
			return fmt.Errorf("%w: store already hosts region %d as peer %d: %w", region.ErrInvalidArgument, regionID, p.peerID, err)
		}
		return s.replaceStale(p, peerID, leader)
	}
	dir := s.regionDir(regionID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writePeerFile(dir, peerID, leader); err != nil {
		return fmt.Errorf("create peer: %w", err)
	}
	_, err := s.addPeer(nil, regionID, peerID, nil)
	return err
}

// The peer-id file of a replica created by CreatePeer holds its peer id
// and, on a second line, the region's conf_ver in the metadata of the
// leader that asked for it (absent in files written before the leader
// sent its metadata).
type savedPeer struct {
	id         uint64
	confVer    uint64
	hasConfVer bool
}

func writePeerFile(dir string, peerID uint64, leader *flaredbv1.Region) error {
	data := strconv.FormatUint(peerID, 10) + "\n"
	if leader != nil {
		data += strconv.FormatUint(leader.GetEpoch().GetConfVer(), 10) + "\n"
	}
	return writeFileSync(filepath.Join(dir, peerIDFile), []byte(data))
}

func readPeerFile(dir string) (savedPeer, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, peerIDFile))
	if err != nil {
		return savedPeer{}, false
	}
	lines := strings.Fields(string(raw))
	if len(lines) == 0 {
		return savedPeer{}, false
	}
	var sp savedPeer
	if sp.id, err = strconv.ParseUint(lines[0], 10, 64); err != nil || sp.id == 0 {
		return savedPeer{}, false
	}
	if len(lines) > 1 {
		if sp.confVer, err = strconv.ParseUint(lines[1], 10, 64); err == nil {
			sp.hasConfVer = true
		}
	}
	return sp, true
}

// savedPeer reads the peer-id file of a region's directory.
func (s *Store) savedPeer(regionID uint64) (savedPeer, bool) {
	return readPeerFile(s.regionDir(regionID))
}

func (s *Store) regionDir(regionID uint64) string {
	return filepath.Join(s.cfg.DataDir, "regions", strconv.FormatUint(regionID, 10))
}

// writeFileSync replaces path with data durably: written to a temporary
// file, synced, renamed over path, and the rename synced.
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
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir syncs a directory, so a file created, renamed or deleted in it
// is too after a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
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
		saved, ok := readPeerFile(filepath.Join(root, e.Name()))
		if !ok {
			continue // a destroyed region's leftovers
		}
		if _, err := s.addPeer(nil, id, saved.id, nil); err != nil {
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
	if err := s.cfg.CreatePeer(ctx, resp.GetStore(), p.regionID, target.GetId(), p.Region()); err != nil {
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
