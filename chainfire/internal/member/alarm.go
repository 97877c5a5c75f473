package member

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// maintenance is the member's alarm and corruption-check state.
type maintenance struct {
	raisingNoSpace atomic.Bool
	raisingCorrupt atomic.Bool
	alarmsRaised   *prometheus.CounterVec
	// corruptChecks counts periodic hash comparisons by outcome.
	corruptChecks *prometheus.CounterVec
}

func newMaintenance() *maintenance {
	return &maintenance{
		alarmsRaised: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chainfire_server_alarms_raised_total", Help: "Alarms this member raised, by type (NOSPACE, CORRUPT).",
		}, []string{"alarm"}),
		corruptChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chainfire_server_corruption_checks_total", Help: "Periodic HashKV comparisons with the other members, by result (ok, mismatch, skipped: unreachable or across a compaction).",
		}, []string{"result"}),
	}
}

func (mt *maintenance) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{mt.alarmsRaised, mt.corruptChecks} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Alarms lists the cluster's raised alarms.
func (m *Member) Alarms() []*pb.AlarmMember { return m.applier.Members().Alarms() }

// AlarmActive reports whether an alarm of kind t is raised anywhere.
func (m *Member) AlarmActive(t pb.AlarmType) bool { return m.applier.Members().AlarmActive(t) }

// Alarm raises or clears alarms through Raft, so every member agrees on
// them, and answers with the alarms the request changed.
func (m *Member) Alarm(ctx context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	var changed []*pb.AlarmMember
	switch req.GetAction() {
	case pb.AlarmRequest_ACTIVATE:
		if req.GetAlarm() == pb.AlarmType_NONE {
			return &pb.AlarmResponse{}, nil
		}
		changed = append(changed, &pb.AlarmMember{MemberID: req.GetMemberID(), Alarm: req.GetAlarm()})
	case pb.AlarmRequest_DEACTIVATE:
		for _, a := range m.Alarms() {
			if a.GetAlarm() == req.GetAlarm() && (req.GetMemberID() == 0 || a.GetMemberID() == req.GetMemberID()) {
				changed = append(changed, a)
			}
		}
	default:
		// etcd answers GET through Raft too: a list taken right after a
		// disarm must not show the disarmed alarm.
		if err := m.ReadBarrier(ctx); err != nil {
			return nil, err
		}
		return &pb.AlarmResponse{Alarms: m.Alarms()}, nil
	}
	cmd := &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Alarm{Alarm: req}}
	if _, err := m.Propose(ctx, cmd); err != nil {
		return nil, err
	}
	return &pb.AlarmResponse{Alarms: changed}, nil
}

// raiseAlarm raises alarm t for this member in the background (the write
// that noticed the condition must not wait for it), once at a time. It
// first catches up with the leader and checks again, with still, that the
// condition holds and no member raised the alarm meanwhile: a lagging
// member must not re-raise an alarm the operator just disarmed.
func (m *Member) raiseAlarm(t pb.AlarmType, raising *atomic.Bool, still func() bool) {
	if m.AlarmActive(t) || !raising.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer raising.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RequestTimeout)
		defer cancel()
		if err := m.ReadBarrier(ctx); err != nil {
			m.log.Warn("raise alarm: catch up", "alarm", t.String(), "error", err.Error())
			return
		}
		if m.AlarmActive(t) || !still() {
			return
		}
		m.log.Warn("raising alarm", "alarm", t.String(), "member", fmt.Sprintf("%x", m.id))
		m.maint.alarmsRaised.WithLabelValues(t.String()).Inc()
		req := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: m.id, Alarm: t}
		if _, err := m.Alarm(ctx, req); err != nil {
			m.log.Warn("raise alarm", "alarm", t.String(), "error", err.Error())
		}
	}()
}
