package store

import (
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// TestProvenRemoved: PD proves a removal only with newer membership that
// lacks the peer.
func TestProvenRemoved(t *testing.T) {
	region := func(id, confVer uint64, peers ...uint64) *flaredbv1.Region {
		r := &flaredbv1.Region{Id: id, Epoch: &flaredbv1.RegionEpoch{ConfVer: confVer, Version: 1}}
		for _, p := range peers {
			r.Peers = append(r.Peers, &flaredbv1.Peer{Id: p, StoreId: p})
		}
		return r
	}
	local := region(7, 3, 1, 2, 3)
	for _, tc := range []struct {
		name string
		pd   *flaredbv1.Region
		want bool
	}{
		{"newer membership without the peer", region(7, 5, 1, 2, 4), true},
		{"newer membership still with the peer", region(7, 5, 1, 3, 4), false},
		{"same membership (a replica cut off from its leader)", region(7, 3, 1, 2), false},
		{"older routing entry", region(7, 2, 1, 2), false},
		{"PD does not know the region", nil, false},
		{"another region", region(8, 9, 1, 2), false},
	} {
		err := provenRemoved(local.GetEpoch().GetConfVer(), 3, local.GetId(), tc.pd)
		if got := err == nil; got != tc.want {
			t.Errorf("%s: proven = %v (%v), want %v", tc.name, got, err, tc.want)
		}
	}
}
