package compat

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// ctlMember is a member as etcdctl prints it with -w json.
type ctlMember struct {
	ID         uint64   `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

func ctlMembers(t *testing.T, ctx context.Context, ctl etcdctl) []ctlMember {
	t.Helper()
	return decodeJSON[struct {
		Members []ctlMember `json:"members"`
	}](t, "member list -w json", ctl.ok(t, ctx, "", "member", "list", "-w", "json")).Members
}

// ctlReconfig runs a membership change, retrying while etcd refuses it as
// "unhealthy cluster" (its strict reconfiguration check wants every member
// connected for 5 seconds, which a cluster that just started or changed is
// not).
func ctlReconfig(t *testing.T, ctx context.Context, ctl etcdctl, args ...string) string {
	t.Helper()
	for {
		out, errOut, err := ctl.run(ctx, "", args...)
		if err == nil {
			return out
		}
		if !strings.Contains(errOut, "etcdserver: unhealthy cluster") || ctx.Err() != nil {
			t.Fatalf("etcdctl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

var initialClusterLine = regexp.MustCompile(`(?m)^ETCD_INITIAL_CLUSTER="([^"]*)"$`)
var addedLine = regexp.MustCompile(`(?m)^Member +([0-9a-f]+) added (?:as learner )?to cluster +([0-9a-f]+)$`)

// memberAdd runs etcdctl member add and returns the new member's id and
// the ETCD_INITIAL_CLUSTER it printed for the new member to start with.
func memberAdd(t *testing.T, ctx context.Context, ctl etcdctl, m *cluster.Member, learner bool) (uint64, string) {
	t.Helper()
	args := []string{"member", "add", m.Name, "--peer-urls=" + m.PeerURL}
	if learner {
		args = append(args, "--learner")
	}
	out := ctlReconfig(t, ctx, ctl, args...)
	added, initial := addedLine.FindStringSubmatch(out), initialClusterLine.FindStringSubmatch(out)
	if added == nil || initial == nil || !strings.Contains(out, `ETCD_INITIAL_CLUSTER_STATE="existing"`) {
		t.Fatalf("member add: unexpected output:\n%s", out)
	}
	id, err := strconv.ParseUint(added[1], 16, 64)
	if err != nil {
		t.Fatalf("member add: id %q: %v", added[1], err)
	}
	if !strings.Contains(initial[1], m.Name+"="+m.PeerURL) {
		t.Fatalf("member add: ETCD_INITIAL_CLUSTER %q lacks the new member", initial[1])
	}
	return id, initial[1]
}

// waitLearnerSynced waits until the learner at ep has applied what the
// leader had committed when the wait began.
func waitLearnerSynced(t *testing.T, ctx context.Context, cli *clientv3.Client, c *cluster.Cluster, ep string) {
	t.Helper()
	lead := c.WaitLeader(t, cli)
	st, err := cli.Status(ctx, c.Member(lead).Endpoint())
	if err != nil {
		t.Fatalf("leader status: %v", err)
	}
	for {
		ls, err := cli.Status(ctx, ep)
		if err == nil && ls.RaftAppliedIndex >= st.RaftIndex {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("learner %s did not catch up to index %d: %v %v", ep, st.RaftIndex, ls, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestMemberEtcdctl runs membership changes with the real etcdctl: list,
// add a learner, the learner's refusals, promote (refused until it caught
// up), update, remove; and move-leader.
func TestMemberEtcdctl(t *testing.T) {
	ctx := deadline(t, 150*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	ctl := etcdctl{bin: cluster.EtcdctlBinary(t), eps: c.Endpoints()}
	for i := range 20 {
		ctl.want(t, ctx, "OK\n", "", "put", fmt.Sprintf("member/k%02d", i), "v")
	}
	if ms := ctlMembers(t, ctx, ctl); len(ms) != 3 {
		t.Fatalf("member list: %+v", ms)
	}

	// A learner that never started cannot be promoted.
	m3 := c.NewMember(t, "m3")
	id3, initial := memberAdd(t, ctx, ctl, m3, true)
	_, errOut, err := ctl.run(ctx, "", "member", "promote", strconv.FormatUint(id3, 16))
	if err == nil || !strings.Contains(errOut, "etcdserver: can only promote a learner member which is in sync with leader") {
		t.Fatalf("promote of an unstarted learner: err %v, stderr %q", err, errOut)
	}
	ms := ctlMembers(t, ctx, ctl)
	idx := slices.IndexFunc(ms, func(m ctlMember) bool { return m.ID == id3 })
	if len(ms) != 4 || idx < 0 || !ms[idx].IsLearner || !slices.Equal(ms[idx].PeerURLs, []string{m3.PeerURL}) || ms[idx].Name != "" {
		t.Fatalf("member list after add: %+v", ms)
	}
	out := ctl.ok(t, ctx, "", "member", "list")
	if !strings.Contains(out, fmt.Sprintf("%x, unstarted, , %s, , true", id3, m3.PeerURL)) {
		t.Fatalf("member list lacks the unstarted learner:\n%s", out)
	}

	c.StartJoining(t, m3, initial)
	lcli := c.Client(t, m3.Endpoint())
	waitLearnerSynced(t, ctx, cli, c, m3.Endpoint())
	// The learner serves serializable reads and Status, nothing else.
	if _, err := lcli.Put(ctx, "member/learner", "x"); err == nil || !strings.Contains(err.Error(), "etcdserver: rpc not supported for learner") {
		t.Fatalf("put on a learner: %v", err)
	}
	if _, err := lcli.Get(ctx, "member/k00"); err == nil || !strings.Contains(err.Error(), "etcdserver: rpc not supported for learner") {
		t.Fatalf("linearizable get on a learner: %v", err)
	}
	get, err := lcli.Get(ctx, "member/", clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil || len(get.Kvs) != 20 {
		t.Fatalf("serializable get on the caught-up learner: %v (%d keys)", err, len(get.Kvs))
	}
	if st, err := lcli.Status(ctx, m3.Endpoint()); err != nil || !st.IsLearner {
		t.Fatalf("learner status: %+v %v", st, err)
	}

	// Promote it (retrying while it is still catching up) and see it vote.
	for {
		_, errOut, err := ctl.run(ctx, "", "member", "promote", strconv.FormatUint(id3, 16))
		if err == nil {
			break
		}
		if !strings.Contains(errOut, "in sync with leader") && !strings.Contains(errOut, "unhealthy cluster") || ctx.Err() != nil {
			t.Fatalf("member promote: %v %s", err, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, errOut, err = ctl.run(ctx, "", "member", "promote", strconv.FormatUint(id3, 16))
	if err == nil || !strings.Contains(errOut, "etcdserver: can only promote a learner member") {
		t.Fatalf("promote of a voter: %v %q", err, errOut)
	}
	c.WaitMemberReady(t, m3)
	ms = ctlMembers(t, ctx, ctl)
	idx = slices.IndexFunc(ms, func(m ctlMember) bool { return m.ID == id3 })
	if len(ms) != 4 || idx < 0 || ms[idx].IsLearner || ms[idx].Name != "m3" || !slices.Equal(ms[idx].ClientURLs, []string{m3.ClientURL}) {
		t.Fatalf("member list after promote: %+v", ms)
	}
	if _, err := c.Client(t, m3.Endpoint()).Put(ctx, "member/voter", "x"); err != nil {
		t.Fatalf("put through the promoted member: %v", err)
	}

	// Update the peer URLs of another (unstarted) learner, then remove it.
	m4 := c.NewMember(t, "m4")
	id4, _ := memberAdd(t, ctx, ctl, m4, true)
	moved := c.NewMember(t, "m4b")
	out = ctl.ok(t, ctx, "", "member", "update", strconv.FormatUint(id4, 16), "--peer-urls="+moved.PeerURL)
	if !strings.Contains(out, fmt.Sprintf("Member %16x updated in cluster", id4)) {
		t.Fatalf("member update: %s", out)
	}
	ms = ctlMembers(t, ctx, ctl)
	idx = slices.IndexFunc(ms, func(m ctlMember) bool { return m.ID == id4 })
	if idx < 0 || !slices.Equal(ms[idx].PeerURLs, []string{moved.PeerURL}) {
		t.Fatalf("member list after update: %+v", ms)
	}
	out = ctlReconfig(t, ctx, ctl, "member", "remove", strconv.FormatUint(id4, 16))
	if !strings.Contains(out, fmt.Sprintf("Member %16x removed from cluster", id4)) {
		t.Fatalf("member remove: %s", out)
	}
	_, errOut, err = ctl.run(ctx, "", "member", "remove", strconv.FormatUint(id4, 16))
	if err == nil || !strings.Contains(errOut, "etcdserver: member not found") {
		t.Fatalf("removing a removed member: %v %q", err, errOut)
	}

	// Remove the voter m3 again: back to 3, all of them list the same.
	ctlReconfig(t, ctx, ctl, "member", "remove", strconv.FormatUint(id3, 16))
	// A removed member notices and stops by itself.
	for m3.Running() {
		if ctx.Err() != nil {
			t.Fatal("the removed member m3 is still running")
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Forget(t, m3)
	ctl.eps = c.Endpoints()
	if ms := ctlMembers(t, ctx, ctl); len(ms) != 3 {
		t.Fatalf("member list after remove: %+v", ms)
	}
	ml, err := cli.MemberList(ctx)
	if err != nil || len(ml.Members) != 3 {
		t.Fatalf("linearizable member list: %v %v", ml, err)
	}

	// move-leader hands leadership to a follower.
	lead := c.WaitLeader(t, cli)
	target := (lead + 1) % 3
	tst := must[*clientv3.StatusResponse](t, "status")(cli.Status(ctx, c.Member(target).Endpoint()))
	out = ctl.ok(t, ctx, "", "move-leader", strconv.FormatUint(tst.Header.MemberId, 16))
	if !strings.Contains(out, "Leadership transferred from") {
		t.Fatalf("move-leader: %s", out)
	}
	if now := c.WaitLeader(t, cli); now != target {
		t.Fatalf("after move-leader the leader is m%d, want m%d", now, target)
	}
	if _, err := cli.Put(ctx, "member/after-move", "x"); err != nil {
		t.Fatalf("put after move-leader: %v", err)
	}
}
