package apply

import (
	"encoding/binary"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// alarmKey is one raised alarm: which member raised it and what kind.
type alarmKey struct {
	member uint64
	alarm  pb.AlarmType
}

var alarmPrefix = []byte("alarm/")

func (k alarmKey) bytes() []byte {
	b := append([]byte(nil), alarmPrefix...)
	b = binary.BigEndian.AppendUint64(b, k.member)
	return binary.BigEndian.AppendUint32(b, uint32(k.alarm))
}

func loadAlarms(b *bbolt.Bucket, into map[alarmKey]struct{}) error {
	c := b.Cursor()
	for k, _ := c.Seek(alarmPrefix); k != nil && len(k) >= len(alarmPrefix) && string(k[:len(alarmPrefix)]) == string(alarmPrefix); k, _ = c.Next() {
		rest := k[len(alarmPrefix):]
		if len(rest) != 12 {
			return fmt.Errorf("apply: malformed alarm key %x", k)
		}
		into[alarmKey{member: binary.BigEndian.Uint64(rest), alarm: pb.AlarmType(binary.BigEndian.Uint32(rest[8:]))}] = struct{}{}
	}
	return nil
}

// Alarms lists the raised alarms, ordered by member then kind.
func (m *Members) Alarms() []*pb.AlarmMember {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*pb.AlarmMember, 0, len(m.alarms))
	for k := range m.alarms {
		out = append(out, &pb.AlarmMember{MemberID: k.member, Alarm: k.alarm})
	}
	slices.SortFunc(out, func(a, b *pb.AlarmMember) int {
		if a.GetMemberID() != b.GetMemberID() {
			if a.GetMemberID() < b.GetMemberID() {
				return -1
			}
			return 1
		}
		return int(a.GetAlarm()) - int(b.GetAlarm())
	})
	return out
}

// AlarmActive reports whether any member has raised an alarm of kind t.
func (m *Members) AlarmActive(t pb.AlarmType) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for k := range m.alarms {
		if k.alarm == t {
			return true
		}
	}
	return false
}

// alarm applies an ACTIVATE or DEACTIVATE (GET is served without Raft).
// Like etcd, it answers with the alarms the request changed.
func (m *Members) alarm(b *mvcc.Batch, req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	resp := &pb.AlarmResponse{Header: &pb.ResponseHeader{Revision: b.Rev()}}
	if req.GetAlarm() == pb.AlarmType_NONE {
		return resp, nil
	}
	bucket, err := b.Tx().CreateBucketIfNotExists(clusterBucket)
	if err != nil {
		return nil, fmt.Errorf("apply: cluster bucket: %w", err)
	}
	m.mu.RLock()
	var targets []alarmKey
	switch req.GetAction() {
	case pb.AlarmRequest_ACTIVATE:
		k := alarmKey{member: req.GetMemberID(), alarm: req.GetAlarm()}
		if _, ok := m.alarms[k]; !ok {
			targets = append(targets, k)
		}
	case pb.AlarmRequest_DEACTIVATE:
		for k := range m.alarms {
			if k.alarm == req.GetAlarm() && (req.GetMemberID() == 0 || k.member == req.GetMemberID()) {
				targets = append(targets, k)
			}
		}
	}
	m.mu.RUnlock()
	activate := req.GetAction() == pb.AlarmRequest_ACTIVATE
	for _, k := range targets {
		if activate {
			err = bucket.Put(k.bytes(), []byte{1})
		} else {
			err = bucket.Delete(k.bytes())
		}
		if err != nil {
			return nil, fmt.Errorf("apply: store alarm: %w", err)
		}
		resp.Alarms = append(resp.Alarms, &pb.AlarmMember{MemberID: k.member, Alarm: k.alarm})
	}
	// Visible at once, not on commit: a later entry of the same batch must
	// see it, since members group entries into batches differently and
	// every member must refuse the same writes. A failed commit stops the
	// member (see ApplyBatch), so nothing uncommitted outlives it.
	m.mu.Lock()
	for _, k := range targets {
		if activate {
			m.alarms[k] = struct{}{}
		} else {
			delete(m.alarms, k)
		}
	}
	m.mu.Unlock()
	return resp, nil
}

// refuse applies etcd's alarm rules at apply time, where every member
// sees the same alarms in log order (a member checking before proposing
// may not have applied a just-raised alarm yet): under CORRUPT no write
// applies; under NOSPACE puts and put-carrying transactions do not, while
// deletes and compaction still do, so space can be freed.
func (m *Members) refuse(cmd *chainfirev1.RaftCommand) error {
	m.mu.RLock()
	empty := len(m.alarms) == 0
	m.mu.RUnlock()
	if empty {
		return nil
	}
	adds := false
	switch c := cmd.GetCommand().(type) {
	case *chainfirev1.RaftCommand_Put, *chainfirev1.RaftCommand_LeaseGrant:
		adds = true
	case *chainfirev1.RaftCommand_Txn:
		adds = TxnAddsData(c.Txn)
	case *chainfirev1.RaftCommand_DeleteRange:
	default:
		return nil
	}
	if m.AlarmActive(pb.AlarmType_CORRUPT) {
		return etcderr.Corrupt
	}
	if adds && m.AlarmActive(pb.AlarmType_NOSPACE) {
		return etcderr.NoSpace
	}
	return nil
}

// TxnAddsData reports whether a transaction may put (on either branch, at
// any depth): what NOSPACE forbids.
func TxnAddsData(t *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{t.GetSuccess(), t.GetFailure()} {
		for _, op := range ops {
			switch r := op.GetRequest().(type) {
			case *pb.RequestOp_RequestPut:
				return true
			case *pb.RequestOp_RequestTxn:
				if TxnAddsData(r.RequestTxn) {
					return true
				}
			}
		}
	}
	return false
}
