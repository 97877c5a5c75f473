package etcdapi

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/mvccpb"
)

func bigResponse(revs ...int64) *pb.WatchResponse {
	r := &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: revs[len(revs)-1]}, WatchId: 7}
	for i, rev := range revs {
		r.Events = append(r.Events, &mvccpb.Event{Kv: &mvccpb.KeyValue{
			Key: []byte{byte('a' + i)}, Value: []byte(strings.Repeat("v", 1000)), ModRevision: rev,
		}})
	}
	return r
}

func eventRevs(parts []*pb.WatchResponse) [][]int64 {
	var out [][]int64
	for _, p := range parts {
		var revs []int64
		for _, ev := range p.Events {
			revs = append(revs, ev.Kv.ModRevision)
		}
		out = append(out, revs)
	}
	return out
}

// TestSplitFragments: with fragment set, a large response is cut into
// parts just under the limit, all but the last marked as fragments.
func TestSplitFragments(t *testing.T) {
	resp := bigResponse(5, 5, 5, 5, 5, 5, 5, 5, 5, 5)
	parts := splitResponse(resp, 3500, true)
	if len(parts) != 4 {
		t.Fatalf("got %d parts %v, want 4 of at most 3 events", len(parts), eventRevs(parts))
	}
	n := 0
	for i, p := range parts {
		if p.Fragment != (i < len(parts)-1) {
			t.Fatalf("part %d: fragment=%v", i, p.Fragment)
		}
		if p.WatchId != 7 || p.Header.GetRevision() != 5 {
			t.Fatalf("part %d lost the id or header: %v", i, p)
		}
		if len(p.Events) > 1 && proto.Size(p) > 3500 {
			t.Fatalf("part %d is %d bytes, over the limit", i, proto.Size(p))
		}
		n += len(p.Events)
	}
	if n != 10 {
		t.Fatalf("parts hold %d events, want 10", n)
	}
}

// TestSplitAtRevisions: without fragment a large response is split only
// between revisions, so a transaction's events stay in one response.
func TestSplitAtRevisions(t *testing.T) {
	resp := bigResponse(3, 3, 3, 4, 5, 5)
	parts := splitResponse(resp, 2500, false)
	got := eventRevs(parts)
	want := "[[3 3 3] [4 5 5]]" // greedy: a part ends only where a revision does
	if s := sprint(got); s != want {
		t.Fatalf("split into %s, want %s", s, want)
	}
	for _, p := range parts {
		if p.Fragment {
			t.Fatalf("fragment set without the option")
		}
	}
	small := bigResponse(3, 4)
	if parts := splitResponse(small, 1<<20, true); len(parts) != 1 || parts[0] != small {
		t.Fatalf("a small response was split")
	}
}

func sprint(v [][]int64) string {
	s := "["
	for i, p := range v {
		if i > 0 {
			s += " "
		}
		s += "["
		for j, r := range p {
			if j > 0 {
				s += " "
			}
			s += string(rune('0' + r))
		}
		s += "]"
	}
	return s + "]"
}
