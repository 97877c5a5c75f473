package member

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/raftnode"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// ErrForward means the operation must run on the leader: the caller
// forwards the request there (LeaderURL) and retries.
var ErrForward = errors.New("member: forward to the leader")

// maxLearners is etcd's default limit on learners in a cluster.
const maxLearners = 1

// promoteReadyFraction is how far (of the leader's commit index) a learner
// must have applied before it may become a voter: etcd's readyPercent.
const promoteReadyFraction = 0.9

// MemberList returns the cluster's members as etcd lists them: the Raft
// configuration, named with what each member recorded or published.
func (m *Member) MemberList() ([]*pb.Member, error) {
	servers, err := m.node.Configuration()
	if err != nil {
		return nil, fmt.Errorf("member: configuration: %w", err)
	}
	out := make([]*pb.Member, 0, len(servers))
	for _, s := range servers {
		id, ok := parseServerID(s.ID)
		if !ok {
			continue
		}
		pm := &pb.Member{ID: id, IsLearner: s.Learner}
		if a, ok := m.applier.Members().Get(id); ok {
			pm.Name, pm.PeerURLs, pm.ClientURLs = a.GetName(), a.GetPeerUrls(), a.GetClientUrls()
		}
		if len(pm.PeerURLs) == 0 {
			pm.PeerURLs = []string{"http://" + string(s.Address)}
		}
		out = append(out, pm)
	}
	slices.SortFunc(out, func(a, b *pb.Member) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// IsVoter reports whether this member is a voter in the Raft configuration
// it knows (false for a learner, and for a member not in it yet).
func (m *Member) IsVoter() bool {
	servers, err := m.node.Configuration()
	if err != nil {
		return false
	}
	for _, s := range servers {
		if s.ID == serverID(m.id) {
			return !s.Learner
		}
	}
	return false
}

// IsLearner reports whether this member is a learner (a non-voter).
func (m *Member) IsLearner() bool {
	servers, err := m.node.Configuration()
	if err != nil {
		return false
	}
	for _, s := range servers {
		if s.ID == serverID(m.id) {
			return s.Learner
		}
	}
	return false
}

// LeaderURL is the leader's client URL, when the leader is another member
// that has published one; callers forward leader-only requests there with
// HTTPClient.
func (m *Member) LeaderURL() (string, bool) {
	id, ok := parseServerID(m.node.Leader())
	if !ok || id == m.id {
		return "", false
	}
	a, ok := m.applier.Members().Get(id)
	if !ok || len(a.GetClientUrls()) == 0 {
		return "", false
	}
	return a.GetClientUrls()[0], true
}

// HTTPClient is the member's client for calls to other members.
func (m *Member) HTTPClient() connect.HTTPClient { return m.peers.http }

// AddMember adds a member with peerURLs, as a learner or a voter. Its
// peer URLs are recorded through Raft first, so every member can name it
// as soon as the configuration lists it.
func (m *Member) AddMember(ctx context.Context, peerURLs []string, learner bool) (*pb.Member, error) {
	addr, err := checkPeerURLs(peerURLs)
	if err != nil {
		return nil, err
	}
	if !m.node.IsLeader() {
		return nil, ErrForward
	}
	current, err := m.MemberList()
	if err != nil {
		return nil, err
	}
	id := memberID(peerURLs, m.cfg.InitialClusterToken)
	learners := 0
	for _, c := range current {
		if c.ID == id {
			return nil, etcderr.MemberExist
		}
		for _, u := range c.PeerURLs {
			if slices.Contains(peerURLs, u) {
				return nil, etcderr.PeerURLExist
			}
		}
		if c.IsLearner {
			learners++
		}
	}
	if learner && learners >= maxLearners {
		return nil, etcderr.TooManyLearners
	}
	if !learner {
		if err := m.checkQuorumAfter(ctx, true, 0); err != nil {
			return nil, err
		}
	}
	if err := m.recordMember(ctx, id, peerURLs); err != nil {
		return nil, err
	}
	ctx, cancel := m.withRequestTimeout(ctx)
	defer cancel()
	if learner {
		err = m.node.AddLearner(ctx, serverID(id), addr)
	} else {
		err = m.node.AddVoter(ctx, serverID(id), addr)
	}
	if err != nil {
		return nil, m.configError(ctx, err)
	}
	m.log.Info("added member", "id", fmt.Sprintf("%x", id), "peer_urls", peerURLs, "learner", learner)
	return &pb.Member{ID: id, PeerURLs: peerURLs, IsLearner: learner}, nil
}

// recordMember replicates a member's peer URLs (and the cluster id, for
// members that join later and cannot derive it).
func (m *Member) recordMember(ctx context.Context, id uint64, peerURLs []string) error {
	cmd := &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_MemberRecord{MemberRecord: &chainfirev1.MemberRecord{
		Id: id, PeerUrls: peerURLs, ClusterId: m.ClusterID(),
	}}}
	_, err := m.Propose(ctx, cmd)
	return err
}

// RemoveMember removes member id. The leader removing itself hands
// leadership to another voter first and answers ErrForward, so the new
// leader performs the removal.
func (m *Member) RemoveMember(ctx context.Context, id uint64) error {
	if !m.node.IsLeader() {
		return ErrForward
	}
	target, err := m.find(id)
	if err != nil {
		return err
	}
	if !target.IsLearner {
		if err := m.checkQuorumAfter(ctx, false, id); err != nil {
			return err
		}
	}
	ctx, cancel := m.withRequestTimeout(ctx)
	defer cancel()
	if id == m.id {
		if err := m.node.TransferLeadership(ctx, "", ""); err != nil {
			return m.configError(ctx, err)
		}
		return ErrForward
	}
	if err := m.node.RemoveServer(ctx, serverID(id)); err != nil {
		return m.configError(ctx, err)
	}
	cmd := &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_MemberForget{MemberForget: &chainfirev1.MemberForget{Id: id}}}
	if _, err := m.Propose(ctx, cmd); err != nil {
		// The member is out of the configuration; a stale record only
		// costs a name nobody lists.
		m.log.Warn("forget removed member", "id", fmt.Sprintf("%x", id), "error", err.Error())
	}
	m.log.Info("removed member", "id", fmt.Sprintf("%x", id))
	return nil
}

// UpdateMember changes member id's peer URLs.
func (m *Member) UpdateMember(ctx context.Context, id uint64, peerURLs []string) error {
	addr, err := checkPeerURLs(peerURLs)
	if err != nil {
		return err
	}
	if !m.node.IsLeader() {
		return ErrForward
	}
	target, err := m.find(id)
	if err != nil {
		return err
	}
	current, err := m.MemberList()
	if err != nil {
		return err
	}
	for _, c := range current {
		if c.ID == id {
			continue
		}
		for _, u := range c.PeerURLs {
			if slices.Contains(peerURLs, u) {
				return etcderr.PeerURLExist
			}
		}
	}
	if err := m.recordMember(ctx, id, peerURLs); err != nil {
		return err
	}
	ctx, cancel := m.withRequestTimeout(ctx)
	defer cancel()
	if target.IsLearner {
		err = m.node.AddLearner(ctx, serverID(id), addr)
	} else {
		err = m.node.AddVoter(ctx, serverID(id), addr)
	}
	if err != nil {
		return m.configError(ctx, err)
	}
	return nil
}

// PromoteMember makes learner id a voter, once it has caught up.
func (m *Member) PromoteMember(ctx context.Context, id uint64) error {
	if !m.node.IsLeader() {
		return ErrForward
	}
	target, err := m.find(id)
	if err != nil {
		return err
	}
	if !target.IsLearner {
		return etcderr.MemberNotLearner
	}
	ctx, cancel := m.withRequestTimeout(ctx)
	defer cancel()
	// A caught-up learner is up, and adding a voter that is up never
	// costs a quorate cluster its quorum: no strict check needed.
	if !m.learnerReady(ctx, target) {
		return etcderr.LearnerNotReady
	}
	addr, err := checkPeerURLs(target.PeerURLs)
	if err != nil {
		return err
	}
	if err := m.node.AddVoter(ctx, serverID(id), addr); err != nil {
		return m.configError(ctx, err)
	}
	m.log.Info("promoted learner", "id", fmt.Sprintf("%x", id))
	return nil
}

// learnerReady asks the learner how far it has applied: hashicorp/raft
// does not expose a follower's match index, but the learner's own status
// is a lower bound of it.
func (m *Member) learnerReady(ctx context.Context, learner *pb.Member) bool {
	if len(learner.ClientURLs) == 0 {
		return false // never started, or not caught up far enough to publish itself
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cli := etcdserverpbconnect.NewMaintenanceClient(m.peers.http, learner.ClientURLs[0], connect.WithGRPC())
	resp, err := cli.Status(ctx, connect.NewRequest(&pb.StatusRequest{}))
	if err != nil {
		m.log.Info("learner status", "id", fmt.Sprintf("%x", learner.ID), "error", err.Error())
		return false
	}
	return float64(resp.Msg.GetRaftAppliedIndex()) >= promoteReadyFraction*float64(m.node.CommitIndex())
}

// MoveLeader transfers leadership to member id, a voter.
func (m *Member) MoveLeader(ctx context.Context, id uint64) error {
	if !m.node.IsLeader() {
		return etcderr.NotLeader
	}
	target, err := m.find(id)
	if err != nil || target.IsLearner {
		return etcderr.BadLeaderTransferee
	}
	if id == m.id {
		return nil
	}
	addr, err := checkPeerURLs(target.PeerURLs)
	if err != nil {
		return err
	}
	ctx, cancel := m.withRequestTimeout(ctx)
	defer cancel()
	if err := m.node.TransferLeadership(ctx, serverID(id), addr); err != nil {
		return m.configError(ctx, err)
	}
	return nil
}

func (m *Member) find(id uint64) (*pb.Member, error) {
	list, err := m.MemberList()
	if err != nil {
		return nil, err
	}
	for _, c := range list {
		if c.ID == id {
			return c, nil
		}
	}
	return nil, etcderr.MemberNotFound
}

// configError maps a failed configuration change to etcd's errors.
func (m *Member) configError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, raftnode.ErrNotLeader):
		return ErrForward
	case errors.Is(err, raftnode.ErrLeadershipLost):
		return etcderr.LeaderChanged
	case errors.Is(err, raftnode.ErrStopped):
		return etcderr.Stopped
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return m.timeoutError(ctx)
	}
	return fmt.Errorf("member: configuration change: %w", err)
}

// checkPeerURLs validates peer URLs and returns the Raft address (the
// first URL's host:port).
func checkPeerURLs(urls []string) (raft.ServerAddress, error) {
	if len(urls) == 0 {
		return "", etcderr.MemberBadURLs
	}
	var first string
	for i, u := range urls {
		hp, err := HostPort(u)
		if err != nil {
			return "", etcderr.MemberBadURLs
		}
		if i == 0 {
			first = hp
		}
	}
	return raftAddress(first), nil
}
