package region

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// checkChangePeer validates a membership change against the peer list.
// Each store holds at most one peer of a region.
func checkChangePeer(region *flaredbv1.Region, c *flaredbv1.ChangePeerCommand) error {
	p := c.GetPeer()
	if p.GetId() == 0 || p.GetStoreId() == 0 {
		return fmt.Errorf("%w: change peer needs a peer id and a store id", ErrInvalidCommand)
	}
	cur := findPeer(region, p.GetId())
	switch c.GetChangeType() {
	case flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_VOTER:
		if cur != nil && cur.GetRole() == flaredbv1.PeerRole_PEER_ROLE_LEARNER && cur.GetStoreId() == p.GetStoreId() {
			return nil // promotion
		}
		return checkNewPeer(region, p)
	case flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_LEARNER:
		return checkNewPeer(region, p)
	case flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_REMOVE:
		if cur == nil {
			return fmt.Errorf("%w: peer %d is not in region %d", ErrInvalidCommand, p.GetId(), region.GetId())
		}
		return nil
	default:
		return fmt.Errorf("%w: unknown change peer type %v", ErrInvalidCommand, c.GetChangeType())
	}
}

func checkNewPeer(region *flaredbv1.Region, p *flaredbv1.Peer) error {
	for _, q := range region.GetPeers() {
		if q.GetId() == p.GetId() || q.GetStoreId() == p.GetStoreId() {
			return fmt.Errorf("%w: region %d already has peer %d on store %d", ErrInvalidCommand, region.GetId(), q.GetId(), q.GetStoreId())
		}
	}
	return nil
}

func findPeer(region *flaredbv1.Region, id uint64) *flaredbv1.Peer {
	for _, p := range region.GetPeers() {
		if p.GetId() == id {
			return p
		}
	}
	return nil
}

// applyChangePeer updates the peer list and bumps conf_ver. Removing this
// store's own peer is the store's business (it destroys the replica once
// the entry is applied); the state machine only records the change.
func (a *applier) applyChangePeer(c *flaredbv1.ChangePeerCommand) *flaredbv1.Region {
	region := proto.CloneOf(a.state.GetRegion())
	p := c.GetPeer()
	var peers []*flaredbv1.Peer
	for _, q := range region.GetPeers() {
		if q.GetId() != p.GetId() {
			peers = append(peers, q)
		}
	}
	switch c.GetChangeType() {
	case flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_VOTER:
		peers = append(peers, &flaredbv1.Peer{Id: p.GetId(), StoreId: p.GetStoreId(), Role: flaredbv1.PeerRole_PEER_ROLE_VOTER})
	case flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_LEARNER:
		peers = append(peers, &flaredbv1.Peer{Id: p.GetId(), StoreId: p.GetStoreId(), Role: flaredbv1.PeerRole_PEER_ROLE_LEARNER})
	}
	region.Peers = peers
	region.Epoch = &flaredbv1.RegionEpoch{ConfVer: region.GetEpoch().GetConfVer() + 1, Version: region.GetEpoch().GetVersion()}
	a.state = &flaredbv1.RegionLocalState{Region: region, State: a.state.GetState()}
	a.metaChanged = true
	return proto.CloneOf(region)
}
