package member_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/member"
	"github.com/photoncloud/core/pkg/servertest"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// slowLayer throttles what a member receives from its peers, so a
// snapshot sent to it takes seconds and a test can act mid-transfer.
type slowLayer struct {
	raft.StreamLayer
	received    *atomic.Int64
	bytesPerSec int64
}

func (l slowLayer) Accept() (net.Conn, error) {
	c, err := l.StreamLayer.Accept()
	if err != nil {
		return nil, err
	}
	return &slowConn{Conn: c, l: l}, nil
}

type slowConn struct {
	net.Conn
	l slowLayer
}

func (c *slowConn) Read(p []byte) (int, error) {
	if len(p) > 8192 {
		p = p[:8192]
	}
	n, err := c.Conn.Read(p)
	c.l.received.Add(int64(n))
	time.Sleep(time.Duration(int64(n) * int64(time.Second) / c.l.bytesPerSec))
	return n, err
}

// joiningMember prepares a member that joins c with
// --initial-cluster-state existing.
func (c *testCluster) joiningMember(name string, wrap func(raft.StreamLayer) raft.StreamLayer, tweak func(*member.Config)) *testMember {
	tm := &testMember{c: c, name: name, dir: filepath.Join(c.t.TempDir(), name), peerAddr: servertest.FreeAddr(c.t), net: newFaultNet()}
	initial := append(append([]member.InitialMember(nil), c.initial...), member.InitialMember{Name: name, PeerURLs: []string{"http://" + tm.peerAddr}})
	tm.tweak = func(cfg *member.Config) {
		if tweak != nil {
			tweak(cfg)
		}
		cfg.InitialCluster = initial
		cfg.InitialClusterState = "existing"
		if wrap != nil {
			cfg.WrapPeerStream = wrap
		}
	}
	c.members = append(c.members, tm)
	return tm
}

// TestJoinBySnapshotLeaderKilledMidTransfer adds a learner to a cluster
// whose logs were truncated behind a snapshot, so it can only catch up by
// InstallSnapshot; the leader is killed while the snapshot is streaming.
// The new leader sends it again, the learner ends identical to the
// others, and it can then be promoted.
func TestJoinBySnapshotLeaderKilledMidTransfer(t *testing.T) {
	tweak := func(cfg *member.Config) {
		cfg.SnapshotCount = 64
		cfg.TrailingLogs = 16
	}
	c := newCluster(t, 3, tweak)
	leader := c.waitLeader()
	val := strings.Repeat("s", 8<<10)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				c.members[w%3].mustPut(fmt.Sprintf("snap/%d/%d", w, i), val)
			}
		}()
	}
	wg.Wait()
	c.waitConverged()
	for _, tm := range c.members {
		if err := tm.m.Node().Raft().Snapshot().Error(); err != nil {
			t.Fatalf("%s: snapshot: %v", tm.name, err)
		}
	}
	leader = c.waitLeader()
	if first, err := leader.m.Node().FirstIndex(); err != nil || first <= 1 {
		t.Fatalf("leader's log starts at %d (%v): a joiner could replay it instead of taking the snapshot", first, err)
	}

	var received atomic.Int64
	wrap := func(l raft.StreamLayer) raft.StreamLayer {
		return slowLayer{StreamLayer: l, received: &received, bytesPerSec: 512 << 10}
	}
	joiner := c.joiningMember("m3", wrap, tweak)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := leader.m.AddMember(ctx, []string{"http://" + joiner.peerAddr}, true); err != nil {
		t.Fatalf("add learner: %v", err)
	}
	joiner.start()
	waitFor(t, "the snapshot transfer to start", func() bool { return received.Load() > 256<<10 })
	if joiner.m.AppliedIndex() >= leader.m.AppliedIndex() {
		t.Fatalf("the joiner caught up before the leader was killed; the test proves nothing")
	}
	leader.crash()

	survivors := c.running()
	c.waitLeader(c.others(leader, joiner)...)
	c.waitConverged(survivors...)
	if got := joiner.mustGet("snap/3/49", true); len(got.GetKvs()) != 1 {
		t.Fatalf("joiner lacks the last key: %v", got)
	}
	newLeader := c.waitLeader(c.others(leader, joiner)...)
	waitFor(t, "the learner's promotion", func() bool {
		pctx, pcancel := context.WithTimeout(context.Background(), callTimeout)
		defer pcancel()
		return newLeader.m.PromoteMember(pctx, joiner.m.ID()) == nil
	})
	if joiner.m.IsLearner() {
		t.Fatal("joiner is still a learner after promotion")
	}
}

func (tm *testMember) cluster() etcdserverpbconnect.ClusterClient {
	return etcdserverpbconnect.NewClusterClient(tm.c.http, "http://"+tm.clientAddr, connect.WithGRPC())
}

func wantEtcdErr(t *testing.T, what string, err error, want *etcderr.Error) {
	t.Helper()
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != want.Code || cerr.Message() != want.Msg {
		t.Fatalf("%s: got %v, want %v %q", what, err, want.Code, want.Msg)
	}
}

// TestMembershipThroughFollower drives the Cluster API through a follower
// (which forwards to the leader) and checks etcd's errors for the invalid
// cases.
func TestMembershipThroughFollower(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.waitAllReady()
	leader := c.waitLeader()
	f := c.others(leader)[0]
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cl := f.cluster()

	url := "http://" + servertest.FreeAddr(t)
	add, err := cl.MemberAdd(ctx, connect.NewRequest(&pb.MemberAddRequest{PeerURLs: []string{url}, IsLearner: true}))
	if err != nil {
		t.Fatalf("member add through a follower: %v", err)
	}
	id := add.Msg.GetMember().GetID()
	if len(add.Msg.GetMembers()) != 4 || !add.Msg.GetMember().GetIsLearner() || add.Msg.GetHeader().GetMemberId() != f.m.ID() {
		t.Fatalf("member add answered %v", add.Msg)
	}
	_, err = cl.MemberAdd(ctx, connect.NewRequest(&pb.MemberAddRequest{PeerURLs: []string{url}}))
	wantEtcdErr(t, "adding the same peer URL", err, etcderr.MemberExist)
	_, err = cl.MemberAdd(ctx, connect.NewRequest(&pb.MemberAddRequest{PeerURLs: []string{"http://" + servertest.FreeAddr(t)}, IsLearner: true}))
	wantEtcdErr(t, "a second learner", err, etcderr.TooManyLearners)
	_, err = cl.MemberAdd(ctx, connect.NewRequest(&pb.MemberAddRequest{PeerURLs: []string{"ftp://x"}}))
	wantEtcdErr(t, "a bad URL", err, etcderr.MemberBadURLs)
	_, err = cl.MemberPromote(ctx, connect.NewRequest(&pb.MemberPromoteRequest{ID: id}))
	wantEtcdErr(t, "promoting an unstarted learner", err, etcderr.LearnerNotReady)
	_, err = cl.MemberPromote(ctx, connect.NewRequest(&pb.MemberPromoteRequest{ID: f.m.ID()}))
	wantEtcdErr(t, "promoting a voter", err, etcderr.MemberNotLearner)
	_, err = cl.MemberRemove(ctx, connect.NewRequest(&pb.MemberRemoveRequest{ID: 12345}))
	wantEtcdErr(t, "removing an unknown member", err, etcderr.MemberNotFound)

	// Every member lists the learner (linearizably) before it is removed.
	for _, tm := range c.members {
		ml, err := tm.cluster().MemberList(ctx, connect.NewRequest(&pb.MemberListRequest{Linearizable: true}))
		if err != nil || len(ml.Msg.GetMembers()) != 4 {
			t.Fatalf("%s: member list: %v %v", tm.name, ml, err)
		}
	}
	if _, err := cl.MemberRemove(ctx, connect.NewRequest(&pb.MemberRemoveRequest{ID: id})); err != nil {
		t.Fatalf("remove the learner: %v", err)
	}

	// Removing the leader hands leadership over first: the cluster keeps a
	// leader among the remaining two and keeps accepting writes.
	if _, err := cl.MemberRemove(ctx, connect.NewRequest(&pb.MemberRemoveRequest{ID: leader.m.ID()})); err != nil {
		t.Fatalf("remove the leader: %v", err)
	}
	rest := c.others(leader)
	newLeader := c.waitLeader(rest...)
	if newLeader == leader {
		t.Fatal("the removed leader still leads")
	}
	newLeader.mustPut("after-remove", "x")
	select {
	case <-leader.m.Removed():
	case <-time.After(waitTimeout):
		t.Fatal("the removed leader never noticed its removal")
	}
	select {
	case <-newLeader.m.Removed():
		t.Fatal("a remaining member thinks it was removed")
	default:
	}
	ml, err := newLeader.cluster().MemberList(ctx, connect.NewRequest(&pb.MemberListRequest{Linearizable: true}))
	if err != nil || len(ml.Msg.GetMembers()) != 2 {
		t.Fatalf("member list after removing the leader: %v %v", ml, err)
	}

	// MoveLeader is for the leader only and for voters only.
	other := c.others(leader, newLeader)[0]
	_, err = other.maintenance().MoveLeader(ctx, connect.NewRequest(&pb.MoveLeaderRequest{TargetID: other.m.ID()}))
	wantEtcdErr(t, "move-leader on a follower", err, etcderr.NotLeader)
	_, err = newLeader.maintenance().MoveLeader(ctx, connect.NewRequest(&pb.MoveLeaderRequest{TargetID: 999}))
	wantEtcdErr(t, "move-leader to a stranger", err, etcderr.BadLeaderTransferee)
	if _, err := newLeader.maintenance().MoveLeader(ctx, connect.NewRequest(&pb.MoveLeaderRequest{TargetID: other.m.ID()})); err != nil {
		t.Fatalf("move-leader: %v", err)
	}
	if got := c.waitLeader(rest...); got != other {
		t.Fatalf("leader after move-leader is %s, want %s", got.name, other.name)
	}
}

// TestStrictReconfigCheck: with one of three members down, adding a voter
// (4 voters, 2 up) or removing a live one (2 voters, 1 up) would lose the
// quorum and is refused with etcd's error; removing the dead one is fine.
func TestStrictReconfigCheck(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.waitAllReady()
	leader := c.waitLeader()
	others := c.others(leader)
	dead, live := others[0], others[1]
	deadID := dead.m.ID()
	dead.crash()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cl := leader.cluster()
	_, err := cl.MemberAdd(ctx, connect.NewRequest(&pb.MemberAddRequest{PeerURLs: []string{"http://" + servertest.FreeAddr(t)}}))
	wantEtcdErr(t, "adding a voter with one member down", err, etcderr.MemberNotEnoughStart)
	_, err = cl.MemberRemove(ctx, connect.NewRequest(&pb.MemberRemoveRequest{ID: live.m.ID()}))
	wantEtcdErr(t, "removing a live voter with one member down", err, etcderr.MemberNotEnoughStart)
	// A learner does not vote, so adding one is always allowed.
	if _, err := cl.MemberAdd(ctx, connect.NewRequest(&pb.MemberAddRequest{PeerURLs: []string{"http://" + servertest.FreeAddr(t)}, IsLearner: true})); err != nil {
		t.Fatalf("adding a learner with one member down: %v", err)
	}
	if _, err := cl.MemberRemove(ctx, connect.NewRequest(&pb.MemberRemoveRequest{ID: deadID})); err != nil {
		t.Fatalf("removing the dead member: %v", err)
	}
	leader.mustPut("after", "x")
}

// waitAllReady waits until every running member is ready: it has a
// leader, has caught up and the cluster knows its client URLs (which the
// strict reconfiguration check probes).
func (c *testCluster) waitAllReady() {
	c.t.Helper()
	for _, tm := range c.running() {
		waitFor(c.t, tm.name+" ready", func() bool { return tm.m.Ready(context.Background()) == nil })
	}
	leader := c.waitLeader()
	waitFor(c.t, "the leader to know every member's client URL", func() bool {
		list, err := leader.m.MemberList()
		if err != nil {
			return false
		}
		for _, m := range list {
			if len(m.ClientURLs) == 0 {
				return false
			}
		}
		return true
	})
}
