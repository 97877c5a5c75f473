package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Replacing stale replicas (see the membership doc comment in
// membership.go): the proof that a replica is stale, and a destroy that
// keeps every range another replica on the store holds.

// provenStale returns nil when leader proves that this store's replica
// (peer id oldID, at conf_ver localConfVer) is stale and may make way for
// peer newID: leader proves the old peer removed (provenRemoved) and the
// new id is the greater (PD allocates ids in increasing order). Otherwise
// it says what is missing.
func provenStale(localConfVer, oldID, regionID, newID uint64, leader *flaredbv1.Region) error {
	if newID <= oldID {
		return fmt.Errorf("new peer id %d is not newer", newID)
	}
	return provenRemoved(localConfVer, oldID, regionID, leader)
}

// provenRemoved returns nil when r, metadata of region regionID from its
// leader or PD, proves peer id peerID removed after the replica's own
// metadata (at conf_ver localConfVer): r no longer lists the peer and its
// conf_ver is newer. Otherwise it says what is missing.
func provenRemoved(localConfVer, peerID, regionID uint64, r *flaredbv1.Region) error {
	switch {
	case r == nil:
		return errors.New("no region metadata to prove it removed")
	case r.GetId() != regionID:
		return fmt.Errorf("the metadata is of region %d", r.GetId())
	}
	for _, q := range r.GetPeers() {
		if q.GetId() == peerID {
			return fmt.Errorf("peer %d is still a member (conf_ver %d)", peerID, r.GetEpoch().GetConfVer())
		}
	}
	if have, got := localConfVer, r.GetEpoch().GetConfVer(); got <= have {
		return fmt.Errorf("the conf_ver %d is not newer than the replica's %d", got, have)
	}
	return nil
}

// replaceStale destroys stale replica p and creates an empty replica with
// peer id newID in its place. The order makes a restart at any point safe:
//
//  1. stop p's group;
//  2. drop its Raft log and delete its raft files (snapshots), keeping
//     the peer-id file — a restart here brings p back with no log, still
//     stale, and PD's repeated instruction replaces it again;
//  3. write newID to the peer-id file — from here on the file wins: a
//     restart finishes the replacement (finishReplacements);
//  4. delete its data outside the ranges of the other replicas here and
//     make its state a tombstone, in one batch (destroyReplica);
//  5. start the empty replica (loadEmptyPeers does this after a restart).
func (s *Store) replaceStale(p *Peer, newID uint64, leader *flaredbv1.Region) error {
	s.log.Info("replacing stale replica", "region", p.regionID, "old_peer", p.peerID, "new_peer", newID)
	s.detach(p, "stale replica")
	if err := s.clearRaftState(p.regionID); err != nil {
		return fmt.Errorf("replace stale replica of region %d: %w", p.regionID, err)
	}
	if err := writePeerFile(p.dir, newID, leader); err != nil {
		return fmt.Errorf("replace stale replica of region %d: %w", p.regionID, err)
	}
	if rep := p.fsm.replica(); rep != nil {
		if err := s.destroyReplica(rep); err != nil {
			return fmt.Errorf("replace stale replica: %w", err)
		}
	}
	_, err := s.addPeer(nil, p.regionID, newID, nil)
	return err
}

// clearRaftState drops a region's Raft log and stable state and deletes
// every file in its directory but the peer-id file (Raft snapshots, a
// legacy raft.db), so a group started there afterwards starts empty.
func (s *Store) clearRaftState(regionID uint64) error {
	if err := s.rlog.Drop(regionID); err != nil {
		return err
	}
	dir := s.regionDir(regionID)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() == peerIDFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// destroyReplica deletes a replica's data except where another replica
// in the engine holds the range (a stale replica's old range can overlap
// split children this store was given since) and leaves a tombstone. It
// holds rangeMu, which snapshot installs take too, so no replica's data
// can appear in a range between the check and the delete.
func (s *Store) destroyReplica(rep *region.Replica) error {
	s.members.rangeMu.Lock()
	defer s.members.rangeMu.Unlock()
	states, err := s.regionStates()
	if err != nil {
		return fmt.Errorf("destroy region %d: %w", rep.ID(), err)
	}
	var keep []*flaredbv1.Region
	for _, st := range states {
		if st.GetState() != flaredbv1.PeerState_PEER_STATE_TOMBSTONE {
			keep = append(keep, st.GetRegion())
		}
	}
	return rep.DestroyOutside(keep)
}

// regionStates reads every region state the engine holds.
func (s *Store) regionStates() ([]*flaredbv1.RegionLocalState, error) {
	v := s.eng.NewSnapshot()
	defer func() { _ = v.Close() }()
	return v.RegionStates()
}

// finishReplacements completes, after a restart, the replacements of
// stale replicas that were interrupted after the new peer id was written
// (step 3 of replaceStale): such a replica is destroyed here and left out
// of reps, so loadEmptyPeers starts the new, empty peer.
func (s *Store) finishReplacements(reps []*region.Replica) ([]*region.Replica, error) {
	out := reps[:0:0]
	for _, rep := range reps {
		own := s.ownPeer(rep.Region())
		saved, ok := s.savedPeer(rep.ID())
		newID := saved.id
		if own == nil || !ok || newID <= own.GetId() {
			out = append(out, rep)
			continue
		}
		s.log.Info("finishing the replacement of a stale replica", "region", rep.ID(), "old_peer", own.GetId(), "new_peer", newID)
		if err := s.clearRaftState(rep.ID()); err != nil {
			return nil, fmt.Errorf("store: replace stale replica of region %d: %w", rep.ID(), err)
		}
		if err := s.destroyReplica(rep); err != nil {
			return nil, fmt.Errorf("store: replace stale replica: %w", err)
		}
	}
	return out, nil
}
