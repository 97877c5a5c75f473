package etcdapi

import (
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/mvccpb"
)

func eventsToProto(evs []mvcc.Event) []*mvccpb.Event {
	if len(evs) == 0 {
		return nil
	}
	out := make([]*mvccpb.Event, len(evs))
	for i := range evs {
		ev := &evs[i]
		pe := &mvccpb.Event{Type: mvccpb.Event_EventType(ev.Type), Kv: apply.ToProto(&ev.KV)}
		if ev.PrevKV != nil {
			pe.PrevKv = apply.ToProto(ev.PrevKV)
		}
		out[i] = pe
	}
	return out
}

// splitResponse splits a response of several events that is at least max
// bytes. With fragment (the watcher asked for it) it does what etcd does:
// consecutive fragments, each just reaching max, all but the last marked
// Fragment, which the client joins back into one response. Without it the
// events are split only between revisions, so every part stays a valid
// response holding whole transactions.
func splitResponse(resp *pb.WatchResponse, max int, fragment bool) []*pb.WatchResponse {
	if len(resp.Events) < 2 || proto.Size(resp) < max {
		return []*pb.WatchResponse{resp}
	}
	var (
		parts []*pb.WatchResponse
		cur   = emptyPart(resp)
		size  = proto.Size(cur)
	)
	for i, ev := range resp.Events {
		evSize := proto.Size(ev) + 4 // field tag and length
		boundary := fragment || ev.GetKv().GetModRevision() != resp.Events[i-min(i, 1)].GetKv().GetModRevision()
		if len(cur.Events) > 0 && size+evSize > max && boundary {
			cur.Fragment = fragment
			parts = append(parts, cur)
			cur, size = emptyPart(resp), proto.Size(emptyPart(resp))
		}
		cur.Events = append(cur.Events, ev)
		size += evSize
	}
	return append(parts, cur)
}

func emptyPart(resp *pb.WatchResponse) *pb.WatchResponse {
	return &pb.WatchResponse{
		Header: resp.Header, WatchId: resp.WatchId, Created: resp.Created, Canceled: resp.Canceled,
		CompactRevision: resp.CompactRevision, CancelReason: resp.CancelReason,
	}
}
