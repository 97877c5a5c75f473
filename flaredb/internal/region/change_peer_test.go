package region

import (
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func changePeer(h *flaredbv1.RaftCommandHeader, typ flaredbv1.ChangePeerType, id, store uint64) *flaredbv1.RaftCommand {
	return &flaredbv1.RaftCommand{Header: h, Command: &flaredbv1.RaftCommand_ChangePeer{ChangePeer: &flaredbv1.ChangePeerCommand{
		ChangeType: typ, Peer: &flaredbv1.Peer{Id: id, StoreId: store},
	}}}
}

func TestChangePeer(t *testing.T) {
	f := newFixture(t)
	res := f.mustApply(f.r, changePeer(header(f.r), flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_LEARNER, 14, 4))
	if res.Region.GetEpoch().GetConfVer() != 2 || res.Region.GetEpoch().GetVersion() != 1 || len(res.Region.GetPeers()) != 4 {
		t.Fatalf("after add learner = %v", res.Region)
	}
	if p := res.Region.GetPeers()[3]; p.GetRole() != flaredbv1.PeerRole_PEER_ROLE_LEARNER || p.GetStoreId() != 4 {
		t.Fatalf("learner = %v", p)
	}
	res = f.mustApply(f.r, changePeer(header(f.r), flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_VOTER, 14, 4))
	if p := findPeer(res.Region, 14); p.GetRole() != flaredbv1.PeerRole_PEER_ROLE_VOTER || res.Region.GetEpoch().GetConfVer() != 3 {
		t.Fatalf("after promotion = %v", res.Region)
	}
	res = f.mustApply(f.r, changePeer(header(f.r), flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_REMOVE, 11, 1))
	if findPeer(res.Region, 11) != nil || len(res.Region.GetPeers()) != 3 || res.Region.GetEpoch().GetConfVer() != 4 {
		t.Fatalf("after remove = %v", res.Region)
	}

	bad := []*flaredbv1.RaftCommand{
		changePeer(header(f.r), flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_VOTER, 15, 2),   // store 2 has a peer
		changePeer(header(f.r), flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_LEARNER, 12, 9), // peer id taken
		changePeer(header(f.r), flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_REMOVE, 99, 9),      // no such peer
		changePeer(header(f.r), flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_UNSPECIFIED, 16, 6),
		changePeer(header(f.r), flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_VOTER, 0, 6),
	}
	for i, cmd := range bad {
		wantIs(t, f.apply(f.r, cmd).Err, ErrInvalidCommand)
		if f.r.Region().GetEpoch().GetConfVer() != 4 {
			t.Fatalf("bad change %d bumped conf_ver", i)
		}
	}
	f.reopen()
	if got := f.r.Region(); got.GetEpoch().GetConfVer() != 4 || len(got.GetPeers()) != 3 {
		t.Fatalf("after reopen = %v", got)
	}
}
