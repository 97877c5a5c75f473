package member

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"

	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// checkCorruptionLoop runs the periodic corruption check while this
// member leads: Raft makes every member apply the same entries, so equal
// revisions must hash equal, and a member whose store silently diverged
// (disk corruption, a bug) is caught before it serves wrong data for long.
func (m *Member) checkCorruptionLoop(ctx context.Context) {
	if m.cfg.CorruptCheckInterval <= 0 {
		return
	}
	tick := time.NewTicker(m.cfg.CorruptCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if m.node.IsLeader() {
			m.CheckCorruption(ctx)
		}
	}
}

// CheckCorruption compares every other member's HashKV with this
// member's hash at the same revision, and raises the CORRUPT alarm for a
// member that differs. Members behind a compaction this member has applied
// (or unreachable) are skipped until the next check.
func (m *Member) CheckCorruption(ctx context.Context) {
	list, err := m.MemberList()
	if err != nil {
		return
	}
	for _, peer := range list {
		if peer.ID == m.id || len(peer.ClientURLs) == 0 {
			continue
		}
		m.maint.corruptChecks.WithLabelValues(m.comparePeerHash(ctx, peer)).Inc()
	}
}

// comparePeerHash returns the outcome: ok, mismatch or skipped.
func (m *Member) comparePeerHash(ctx context.Context, peer *pb.Member) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cli := etcdserverpbconnect.NewMaintenanceClient(m.peers.http, peer.ClientURLs[0], connect.WithGRPC())
	resp, err := cli.HashKV(ctx, connect.NewRequest(&pb.HashKVRequest{}))
	if err != nil {
		m.log.Debug("corruption check: peer hash", "peer", fmt.Sprintf("%x", peer.ID), "error", err.Error())
		return "skipped"
	}
	theirs := resp.Msg
	mine, err := m.store.HashKV(theirs.GetHashRevision())
	if err != nil || mine.CompactRevision != theirs.GetCompactRevision() {
		return "skipped" // the peer is behind (or ahead) a compaction
	}
	if mine.Hash == theirs.GetHash() {
		return "ok"
	}
	m.log.Error("corruption check: member's store differs from the leader's",
		"peer", fmt.Sprintf("%x", peer.ID), "revision", mine.Revision,
		"leader_hash", mine.Hash, "peer_hash", theirs.GetHash(), "compact_revision", mine.CompactRevision)
	if !m.alarmRaisedFor(peer.ID, pb.AlarmType_CORRUPT) {
		m.maint.alarmsRaised.WithLabelValues(pb.AlarmType_CORRUPT.String()).Inc()
		req := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: peer.ID, Alarm: pb.AlarmType_CORRUPT}
		if _, err := m.Alarm(ctx, req); err != nil {
			m.log.Warn("raise CORRUPT alarm", "peer", fmt.Sprintf("%x", peer.ID), "error", err.Error())
		}
	}
	return "mismatch"
}

func (m *Member) alarmRaisedFor(id uint64, t pb.AlarmType) bool {
	for _, a := range m.Alarms() {
		if a.GetMemberID() == id && a.GetAlarm() == t {
			return true
		}
	}
	return false
}
