package compat

import (
	"slices"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestStatus covers Maintenance.Status (what `etcdctl endpoint status`
// shows) on every member and Cluster.MemberList: all members agree on the
// cluster and the leader, exactly one is the leader, and the Raft indexes
// are set.
func TestStatus(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	put := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "status/k", "v"))

	var (
		sts     []*clientv3.StatusResponse
		ids     []uint64
		leaders int
	)
	for _, m := range c.Members() {
		// Through a client of all members (Status dials the endpoint named)
		// and through a client of that member alone.
		for _, sc := range []*clientv3.Client{cli, c.Client(t, m.Endpoint())} {
			st := must[*clientv3.StatusResponse](t, "status of "+m.Name)(sc.Status(ctx, m.Endpoint()))
			if st.Header == nil || st.Header.ClusterId == 0 || st.Header.MemberId == 0 {
				t.Fatalf("status of %s: header %v lacks cluster_id or member_id", m.Name, st.Header)
			}
			if st.Leader == 0 || st.RaftIndex == 0 || st.RaftTerm == 0 || st.RaftAppliedIndex == 0 {
				t.Fatalf("status of %s: leader %x raft_index %d raft_term %d raft_applied_index %d; want all set", m.Name, st.Leader, st.RaftIndex, st.RaftTerm, st.RaftAppliedIndex)
			}
			if st.Version == "" || st.DbSize <= 0 || st.IsLearner || len(st.Errors) != 0 {
				t.Fatalf("status of %s: version %q db_size %d is_learner %v errors %v", m.Name, st.Version, st.DbSize, st.IsLearner, st.Errors)
			}
			if st.Header.Revision < 1 {
				t.Fatalf("status of %s: header revision %d", m.Name, st.Header.Revision)
			}
			if sc == cli {
				sts = append(sts, st)
				ids = append(ids, st.Header.MemberId)
				if st.Header.MemberId == st.Leader {
					leaders++
				}
			} else if st.Header.MemberId != sts[len(sts)-1].Header.MemberId {
				t.Fatalf("status of %s through two clients: member ids %x and %x", m.Name, st.Header.MemberId, sts[len(sts)-1].Header.MemberId)
			}
		}
	}
	for i, st := range sts {
		if st.Header.ClusterId != sts[0].Header.ClusterId || st.Leader != sts[0].Leader || st.RaftTerm != sts[0].RaftTerm {
			t.Fatalf("members disagree: %s says cluster %x leader %x term %d, %s says %x %x %d", c.Member(0).Name,
				sts[0].Header.ClusterId, sts[0].Leader, sts[0].RaftTerm, c.Member(i).Name, st.Header.ClusterId, st.Leader, st.RaftTerm)
		}
		if st.Header.ClusterId != put.Header.ClusterId {
			t.Fatalf("status cluster_id %x, put said %x", st.Header.ClusterId, put.Header.ClusterId)
		}
	}
	if leaders != 1 {
		t.Fatalf("%d members report themselves as the leader %x, want 1", leaders, sts[0].Leader)
	}
	if sorted := slices.Sorted(slices.Values(ids)); len(slices.Compact(sorted)) != len(ids) {
		t.Fatalf("member ids are not distinct: %x", ids)
	}

	// MemberList names the same members, with the harness's URLs.
	ml := must[*clientv3.MemberListResponse](t, "member list")(cli.MemberList(ctx))
	if len(ml.Members) != len(c.Members()) {
		t.Fatalf("member list: %d members, want %d", len(ml.Members), len(c.Members()))
	}
	if ml.Header.ClusterId != sts[0].Header.ClusterId {
		t.Fatalf("member list cluster_id %x, status said %x", ml.Header.ClusterId, sts[0].Header.ClusterId)
	}
	for i, m := range c.Members() {
		idx := slices.IndexFunc(ml.Members, func(pm *pb.Member) bool { return pm.Name == m.Name })
		if idx < 0 {
			t.Fatalf("member list lacks %s: %v", m.Name, ml.Members)
		}
		pm := ml.Members[idx]
		if pm.ID != ids[i] {
			t.Fatalf("member list: %s has id %x, its status said %x", m.Name, pm.ID, ids[i])
		}
		if !slices.Equal(pm.ClientURLs, []string{m.ClientURL}) || !slices.Equal(pm.PeerURLs, []string{m.PeerURL}) {
			t.Fatalf("member list: %s client URLs %v peer URLs %v, want [%s] [%s]", m.Name, pm.ClientURLs, pm.PeerURLs, m.ClientURL, m.PeerURL)
		}
		if pm.IsLearner {
			t.Fatalf("member list: %s is a learner", m.Name)
		}
	}
}
