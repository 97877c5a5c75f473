package apply

import (
	"encoding/binary"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
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
	b.OnCommit(func(int64, []mvcc.Event) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, k := range targets {
			if activate {
				m.alarms[k] = struct{}{}
			} else {
				delete(m.alarms, k)
			}
		}
	})
	return resp, nil
}
