package apply_test

import (
	"testing"

	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

func alarmCmd(action pb.AlarmRequest_AlarmAction, member uint64, t pb.AlarmType) *chainfirev1.RaftCommand {
	return &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Alarm{Alarm: &pb.AlarmRequest{Action: action, MemberID: member, Alarm: t}}}
}

// TestAlarmsReplicatedAndDurable raises alarms for two members, clears one
// by member and the rest by kind, and checks each state survives a restart.
func TestAlarmsReplicatedAndDurable(t *testing.T) {
	h := newHarness(t)
	for _, id := range []uint64{7, 9} {
		if _, err := h.do(alarmCmd(pb.AlarmRequest_ACTIVATE, id, pb.AlarmType_NOSPACE)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.do(alarmCmd(pb.AlarmRequest_ACTIVATE, 9, pb.AlarmType_CORRUPT)); err != nil {
		t.Fatal(err)
	}
	members := h.a.Members()
	if got := len(members.Alarms()); got != 3 {
		t.Fatalf("%d alarms, want 3: %v", got, members.Alarms())
	}
	h.restart()
	members = h.a.Members()
	if got := len(members.Alarms()); got != 3 || !members.AlarmActive(pb.AlarmType_CORRUPT) {
		t.Fatalf("after restart: %v", members.Alarms())
	}
	resp, err := h.do(alarmCmd(pb.AlarmRequest_DEACTIVATE, 7, pb.AlarmType_NOSPACE))
	if err != nil || len(resp.(*pb.AlarmResponse).GetAlarms()) != 1 {
		t.Fatalf("deactivate one: %v %v", resp, err)
	}
	if !members.AlarmActive(pb.AlarmType_NOSPACE) {
		t.Fatal("member 9's NOSPACE was cleared too")
	}
	if _, err := h.do(alarmCmd(pb.AlarmRequest_DEACTIVATE, 0, pb.AlarmType_NOSPACE)); err != nil {
		t.Fatal(err)
	}
	h.restart()
	members = h.a.Members()
	if members.AlarmActive(pb.AlarmType_NOSPACE) || !members.AlarmActive(pb.AlarmType_CORRUPT) {
		t.Fatalf("after clearing NOSPACE and restart: %v", members.Alarms())
	}
}

// TestNoSpaceRefusedInTheSameBatch: a put in the same Raft batch as the
// NOSPACE alarm is refused, as it is when the two arrive in separate
// batches, so members that batch differently agree.
func TestNoSpaceRefusedInTheSameBatch(t *testing.T) {
	h := newHarness(t)
	put := putCmd(&pb.PutRequest{Key: []byte("k"), Value: []byte("v")})
	del := delCmd(&pb.DeleteRangeRequest{Key: []byte("k")})
	res := h.batch(alarmCmd(pb.AlarmRequest_ACTIVATE, 1, pb.AlarmType_NOSPACE), put, del)
	if res[1].Err == nil || res[1].Err.Error() != "etcdserver: mvcc: database space exceeded" {
		t.Fatalf("put after NOSPACE in the same batch: %v", res[1].Err)
	}
	if res[2].Err != nil {
		t.Fatalf("delete under NOSPACE: %v", res[2].Err)
	}
	res = h.batch(alarmCmd(pb.AlarmRequest_DEACTIVATE, 0, pb.AlarmType_NOSPACE), put)
	if res[1].Err != nil {
		t.Fatalf("put after disarm in the same batch: %v", res[1].Err)
	}
}
