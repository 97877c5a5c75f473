package raftlease

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// answer serves one RPC arriving on c with resp.
func answer(t *testing.T, c <-chan raft.RPC, resp any) {
	t.Helper()
	go func() {
		select {
		case rpc := <-c:
			rpc.Respond(resp, nil)
		case <-time.After(5 * time.Second):
		}
	}()
}

func TestTransportRecordsAcceptedAppends(t *testing.T) {
	addr1, t1 := raft.NewInmemTransport("")
	addr2, t2 := raft.NewInmemTransport("")
	t1.Connect(addr2, t2)
	t2.Connect(addr1, t1)
	defer t1.Close()
	defer t2.Close()

	l := New(true, time.Second)
	var term uint64 = 3
	tr := NewTransport(t1, l, nil, func() uint64 { return term })
	var _ raft.WithPreVote = tr // raft must still see pre-vote support
	var _ raft.WithClose = tr
	conf := voters("1", "2", "3")

	// A rejected append feeds no lease.
	answer(t, t2.Consumer(), &raft.AppendEntriesResponse{Term: term, Success: false})
	var resp raft.AppendEntriesResponse
	if err := tr.AppendEntries("2", addr2, &raft.AppendEntriesRequest{Term: term}, &resp); err != nil {
		t.Fatal(err)
	}
	if !l.Expiry(term, "1", conf).IsZero() {
		t.Fatal("rejected append recorded")
	}
	// An accepted one does, from before it was sent.
	before := time.Now()
	answer(t, t2.Consumer(), &raft.AppendEntriesResponse{Term: term, Success: true})
	if err := tr.AppendEntries("2", addr2, &raft.AppendEntriesRequest{Term: term}, &resp); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	exp := l.Expiry(term, "1", conf)
	if exp.Before(before.Add(l.Duration())) || exp.After(after.Add(l.Duration())) {
		t.Fatalf("lease ends %v after the send, want %v", exp.Sub(before), l.Duration())
	}

	// TimeoutNow revokes the current term's lease before it is sent.
	answer(t, t2.Consumer(), &raft.TimeoutNowResponse{})
	if err := tr.TimeoutNow("2", addr2, &raft.TimeoutNowRequest{}, &raft.TimeoutNowResponse{}); err != nil {
		t.Fatal(err)
	}
	if !l.Expiry(term, "1", conf).IsZero() || l.Revoked() != term {
		t.Fatal("lease survived a leadership transfer")
	}
}

func TestTransportConsumerIsHolds(t *testing.T) {
	_, base := raft.NewInmemTransport("")
	defer base.Close()
	l := New(true, time.Second)
	if NewTransport(base, l, nil, nil).Consumer() != base.Consumer() {
		t.Fatal("without a hold the consumer is not the base's")
	}
	h := NewVoteHold(base.Consumer(), time.Second, raft.RPCHeader{})
	defer h.Stop()
	if NewTransport(base, l, h, nil).Consumer() != (<-chan raft.RPC)(h.out) {
		t.Fatal("with a hold the consumer is not the hold's")
	}
}
