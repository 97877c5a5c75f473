package member_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/photoncloud/core/chainfire/internal/member"
	"github.com/photoncloud/core/pkg/servertest"
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
