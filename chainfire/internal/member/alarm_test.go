package member_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/member"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

func (tm *testMember) maintenance() etcdserverpbconnect.MaintenanceClient {
	return etcdserverpbconnect.NewMaintenanceClient(tm.c.http, "http://"+tm.clientAddr, connect.WithGRPC())
}

// TestNoSpaceAlarm fills a cluster past its quota: NOSPACE is raised on
// every member, writes fail (deletes and compaction do not) until an
// operator disarms it, and disarming clears it everywhere.
func TestNoSpaceAlarm(t *testing.T) {
	c := newCluster(t, 3, func(cfg *member.Config) { cfg.QuotaBackendBytes = 1 << 20 })
	leader := c.waitLeader()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	val := strings.Repeat("x", 16<<10)
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		_, err = leader.putResolved(ctx, "k"+strings.Repeat("a", i%7)+string(rune('a'+i%26)), val)
	}
	if err == nil || !strings.Contains(err.Error(), "database space exceeded") {
		t.Fatalf("filling past the quota: %v", err)
	}
	for _, tm := range c.members {
		waitFor(t, "NOSPACE on "+tm.name, func() bool { return tm.m.AlarmActive(pb.AlarmType_NOSPACE) })
	}
	f := c.others(leader)[0]
	if _, err := f.putResolved(ctx, "small", "x"); err == nil || !strings.Contains(err.Error(), "database space exceeded") {
		t.Fatalf("put through a follower under NOSPACE: %v", err)
	}
	// etcd's recovery: delete data and compact it away (neither is refused
	// under NOSPACE), defragment every member, disarm. Defragmenting alone
	// returns only free pages, which need not bring the file under quota.
	var del *connect.Response[pb.DeleteRangeResponse]
	err = retryIdempotent(ctx, func() (err error) {
		del, err = f.kv.DeleteRange(ctx, connect.NewRequest(&pb.DeleteRangeRequest{Key: []byte("k"), RangeEnd: []byte("l")}))
		return err
	})
	if err != nil {
		t.Fatalf("delete under NOSPACE: %v", err)
	}
	rev := del.Msg.GetHeader().GetRevision()
	err = retryIdempotent(ctx, func() error {
		_, err := f.kv.Compact(ctx, connect.NewRequest(&pb.CompactionRequest{Revision: rev, Physical: true}))
		if err != nil && strings.Contains(err.Error(), "required revision has been compacted") {
			return nil // an attempt that reported leaderTrouble did compact
		}
		return err
	})
	if err != nil {
		t.Fatalf("compact under NOSPACE: %v", err)
	}
	for _, tm := range c.members {
		if _, err := tm.maintenance().Defragment(ctx, connect.NewRequest(&pb.DefragmentRequest{})); err != nil {
			t.Fatalf("defragment %s: %v", tm.name, err)
		}
	}
	if _, err := f.putResolved(ctx, "small", "x"); err == nil || !strings.Contains(err.Error(), "database space exceeded") {
		t.Fatalf("put after defragment, before disarm: %v", err)
	}
	list, err := f.maintenance().Alarm(ctx, connect.NewRequest(&pb.AlarmRequest{Action: pb.AlarmRequest_GET}))
	if err != nil || len(list.Msg.GetAlarms()) == 0 {
		t.Fatalf("alarm list: %v %v", list, err)
	}
	for _, a := range list.Msg.GetAlarms() {
		resp, err := f.maintenance().Alarm(ctx, connect.NewRequest(&pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: a.GetMemberID(), Alarm: a.GetAlarm()}))
		if err != nil || len(resp.Msg.GetAlarms()) != 1 {
			t.Fatalf("disarm %v: %v %v", a, resp, err)
		}
	}
	for _, tm := range c.members {
		waitFor(t, "NOSPACE cleared on "+tm.name, func() bool { return !tm.m.AlarmActive(pb.AlarmType_NOSPACE) })
	}
	if _, err := f.putResolved(ctx, "small", "x"); err != nil {
		t.Fatalf("put after disarm: %v", err)
	}
}
