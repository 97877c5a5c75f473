package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Destroying a replica whose peer was removed from its region, in an order
// a restart can finish from any point (finishDestroys):
//
//  1. stop its group (detach) and make every applied entry durable
//     (applies skip the fsync), so a restart sees the replica's metadata
//     without its peer;
//  2. delete its peer-id file, if it has one: a replica created empty by
//     CreatePeer is filled by a snapshot taken before the region's
//     metadata listed it, so without the file removed a restart could
//     not tell it from one still being added;
//  3. delete its data outside the ranges of the other replicas here and
//     make its state a tombstone, in one synced batch (destroyReplica);
//  4. drop its Raft log and stable state from the shared log;
//  5. delete its directory (Raft snapshots).
//
// Every step is idempotent, so finishing one twice does no harm.

// Steps after which destroyHook is called.
const (
	destroyDetached   = "detached"
	destroyUnmarked   = "peer-id file deleted"
	destroyTombstoned = "tombstoned"
	destroyLogDropped = "raft log dropped"
)

// destroyPeer destroys p, whose own peer its replica has applied the
// removal of. createMu keeps a CreatePeer of the same region from writing
// a new peer into the directory and log being deleted.
func (s *Store) destroyPeer(p *Peer) error {
	s.members.createMu.Lock()
	defer s.members.createMu.Unlock()
	if s.Peer(p.regionID) != p {
		// Replaced as stale meanwhile (its data went with it, and the
		// directory and log are the new peer's now), or the store closed
		// (a restart finishes the destroy).
		return nil
	}
	s.log.Info("destroying removed replica", "region", p.regionID, "peer", p.peerID)
	s.detach(p, "removed replica")
	if err := s.destroyStep(p.regionID, destroyDetached); err != nil {
		return err
	}
	if err := s.destroyRemoved(p.regionID, p.fsm.replica()); err != nil {
		return fmt.Errorf("destroy removed replica of region %d: %w", p.regionID, err)
	}
	return nil
}

// destroyRemoved carries out steps 1 (the sync) to 5 for a stopped
// replica; rep is nil for one that never got its snapshot.
func (s *Store) destroyRemoved(regionID uint64, rep *region.Replica) error {
	if err := s.eng.Sync(); err != nil {
		return err
	}
	dir := s.regionDir(regionID)
	if err := removeSynced(filepath.Join(dir, peerIDFile)); err != nil {
		return err
	}
	if err := s.destroyStep(regionID, destroyUnmarked); err != nil {
		return err
	}
	if rep != nil {
		if err := s.destroyReplica(rep); err != nil {
			return err
		}
	}
	if err := s.destroyStep(regionID, destroyTombstoned); err != nil {
		return err
	}
	if err := s.rlog.Drop(regionID); err != nil {
		return err
	}
	if err := s.destroyStep(regionID, destroyLogDropped); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// destroyStep calls the test hook, if any, after a destroy step; an error
// stops the destroy there, as a crash would.
func (s *Store) destroyStep(regionID uint64, step string) error {
	if s.destroyHook == nil {
		return nil
	}
	return s.destroyHook(regionID, step)
}

// removeSynced deletes a file (a missing one is fine) and syncs its
// directory so the deletion survives a crash.
func removeSynced(path string) error {
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// finishDestroys completes, after a restart, destroys of removed replicas
// that a crash interrupted, and returns the replicas of reps to start:
//
//   - a replica whose metadata no longer lists this store's peer and that
//     is not one being added (removedHere) is destroyed from step 2 on;
//   - a tombstone (step 3 done) gets its Raft log dropped and its
//     directory deleted, unless that directory holds a peer-id file: a
//     new empty peer of the region created since (CreatePeer after the
//     destroy, or a stale replica's replacement), which keeps both.
func (s *Store) finishDestroys(reps []*region.Replica) ([]*region.Replica, error) {
	out := reps[:0:0]
	for _, rep := range reps {
		if !s.removedHere(rep) {
			out = append(out, rep)
			continue
		}
		s.log.Info("finishing the destroy of a removed replica", "region", rep.ID(), "conf_ver", rep.Region().GetEpoch().GetConfVer())
		if err := s.destroyRemoved(rep.ID(), rep); err != nil {
			return nil, fmt.Errorf("store: destroy removed replica of region %d: %w", rep.ID(), err)
		}
	}
	states, err := s.regionStates()
	if err != nil {
		return nil, fmt.Errorf("store: load region states: %w", err)
	}
	for _, st := range states {
		if st.GetState() != flaredbv1.PeerState_PEER_STATE_TOMBSTONE {
			continue
		}
		if err := s.clearTombstone(st.GetRegion().GetId()); err != nil {
			return nil, fmt.Errorf("store: destroy removed replica of region %d: %w", st.GetRegion().GetId(), err)
		}
	}
	return out, nil
}

// removedHere reports whether rep is a replica whose peer was removed: its
// applied metadata has no peer on this store and it is not one being
// added. A replica created empty by CreatePeer (it has a peer-id file) is
// filled by a snapshot taken before the region's metadata listed it, so
// until it applies its own addition its metadata lacks it too. Its
// addition and a removal would each have moved the conf_ver past the one
// it was created at (saved in the file), so it counts as removed only two
// changes later; without that conf_ver it is kept.
func (s *Store) removedHere(rep *region.Replica) bool {
	meta := rep.Region()
	if s.ownPeer(meta) != nil {
		return false
	}
	saved, ok := s.savedPeer(meta.GetId())
	if !ok {
		return true // born a member (bootstrap, split) or past step 2
	}
	return saved.hasConfVer && meta.GetEpoch().GetConfVer() >= saved.confVer+2
}

// clearTombstone drops a tombstoned region's Raft log and deletes its
// directory when a destroy stopped before doing so.
func (s *Store) clearTombstone(regionID uint64) error {
	if _, ok := s.savedPeer(regionID); ok {
		return nil // a new empty peer's directory and log
	}
	dir := s.regionDir(regionID)
	_, err := os.Stat(dir)
	hasDir := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	hasLog, err := s.rlog.HasState(regionID)
	if err != nil {
		return err
	}
	if !hasDir && !hasLog {
		return nil
	}
	s.log.Info("finishing the destroy of a tombstoned replica", "region", regionID, "raft_log", hasLog, "dir", hasDir)
	if err := s.rlog.Drop(regionID); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
