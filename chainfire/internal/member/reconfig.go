package member

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// probeTimeout bounds the reachability probe of one member.
const probeTimeout = time.Second

// checkQuorumAfter is etcd's strict reconfiguration check: it refuses a
// change after which the voters that are up would be fewer than a quorum
// (adding a voter nobody has started to a two-member cluster, removing a
// live voter while another is down), since the cluster would then stop.
// add counts a new, not yet started voter; remove is the voter leaving.
func (m *Member) checkQuorumAfter(ctx context.Context, add bool, remove uint64) error {
	list, err := m.MemberList()
	if err != nil {
		return err
	}
	var voters []*pb.Member
	for _, c := range list {
		if !c.IsLearner && c.ID != remove {
			voters = append(voters, c)
		}
	}
	total := len(voters)
	if add {
		total++
	}
	var up atomic.Int64
	var wg sync.WaitGroup
	for _, v := range voters {
		if v.ID == m.id {
			up.Add(1)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m.reachable(ctx, v) {
				up.Add(1)
			}
		}()
	}
	wg.Wait()
	if int(up.Load()) < total/2+1 {
		return etcderr.MemberNotEnoughStart
	}
	return nil
}

// reachable reports whether member v answers Status on its client URL.
func (m *Member) reachable(ctx context.Context, v *pb.Member) bool {
	if len(v.ClientURLs) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cli := etcdserverpbconnect.NewMaintenanceClient(m.peers.http, v.ClientURLs[0], connect.WithGRPC())
	_, err := cli.Status(ctx, connect.NewRequest(&pb.StatusRequest{}))
	return err == nil
}
