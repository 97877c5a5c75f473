package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// ErrBadContext marks a request whose region context is missing or
// malformed; it matches region.ErrInvalidArgument.
var ErrBadContext = fmt.Errorf("%w: missing or malformed region context", region.ErrInvalidArgument)

func (s *Store) route(rc *flaredbv1.Context) (*Peer, *region.Replica, error) {
	if rc.GetRegionId() == 0 {
		return nil, nil, fmt.Errorf("%w: region_id is 0", ErrBadContext)
	}
	if rc.GetRegionEpoch() == nil {
		return nil, nil, region.ErrMissingEpoch
	}
	p := s.Peer(rc.GetRegionId())
	if p == nil {
		return nil, nil, region.RegionNotFoundError(rc.GetRegionId())
	}
	rep := p.fsm.replica()
	if rep == nil {
		return nil, nil, region.RegionNotFoundError(rc.GetRegionId())
	}
	return p, rep, nil
}

// Propose runs a write command (built by the region package's
// XxxCommand helpers) through the region named by rc and returns its
// apply result. Region errors are *region.Error; bad input matches
// region.ErrInvalidArgument; ErrOutcomeUnknown means the write may or may
// not have been applied.
func (s *Store) Propose(ctx context.Context, rc *flaredbv1.Context, cmd *flaredbv1.RaftCommand, keys ...[]byte) (region.Result, error) {
	p, _, err := s.route(rc)
	if err != nil {
		return region.Result{}, err
	}
	res, err := p.propose(ctx, cmd)
	return res, s.enrich(err, keys)
}

// ReadReplica returns the replica named by rc once a read from it is
// linearizable (this replica leads the region and has applied the read
// index). The caller reads through the replica, which checks rc again.
func (s *Store) ReadReplica(ctx context.Context, rc *flaredbv1.Context, keys ...[]byte) (*region.Replica, error) {
	p, rep, err := s.route(rc)
	if err != nil {
		return nil, err
	}
	if err := rep.CheckRequest(rc, keys...); err != nil {
		return nil, s.enrich(err, keys)
	}
	if !p.IsLeader() {
		return nil, p.notLeader()
	}
	if err := p.readBarrier(ctx); err != nil {
		if errors.Is(err, errNotLeader) {
			return nil, p.notLeader()
		}
		return nil, err
	}
	return rep, nil
}

// Enrich adds what this store knows to an EpochNotMatch error: the
// regions it hosts that hold the request's keys or border the stale
// region (after a split, its siblings), so the client can repair its
// cache without asking PD.
func (s *Store) Enrich(err error, keys [][]byte) error { return s.enrich(err, keys) }

func (s *Store) enrich(err error, keys [][]byte) error {
	re, ok := region.AsRegionError(err)
	if !ok || re.GetEpochNotMatch() == nil {
		return err
	}
	cur := re.GetEpochNotMatch().GetCurrentRegions()
	if len(cur) == 0 {
		return err
	}
	base := cur[0]
	seen := map[uint64]bool{base.GetId(): true}
	for _, p := range s.Peers() {
		r := p.Region()
		if r == nil || seen[r.GetId()] {
			continue
		}
		if borders(r, base) || holdsAny(r, keys) {
			seen[r.GetId()] = true
			cur = append(cur, proto.CloneOf(r))
		}
	}
	re.GetEpochNotMatch().CurrentRegions = cur
	return err
}

func borders(a, b *flaredbv1.Region) bool {
	return (len(a.GetEndKey()) > 0 && bytes.Equal(a.GetEndKey(), b.GetStartKey())) ||
		(len(b.GetEndKey()) > 0 && bytes.Equal(b.GetEndKey(), a.GetStartKey()))
}

func holdsAny(r *flaredbv1.Region, keys [][]byte) bool {
	for _, k := range keys {
		if bytes.Compare(k, r.GetStartKey()) >= 0 && (len(r.GetEndKey()) == 0 || bytes.Compare(k, r.GetEndKey()) < 0) {
			return true
		}
	}
	return false
}
