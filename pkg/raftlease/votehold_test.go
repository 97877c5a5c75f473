package raftlease

import (
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// fakeClock is a settable clock for VoteHold.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type voteHoldRig struct {
	t    *testing.T
	in   chan raft.RPC
	hold *VoteHold
}

func newVoteHoldRig(t *testing.T, clock *fakeClock) *voteHoldRig {
	in := make(chan raft.RPC)
	h := NewVoteHold(in, time.Hour, raft.RPCHeader{ID: []byte("me")})
	h.now = clock.now
	h.until = clock.now().Add(time.Second)
	h.Start(func() uint64 { return 7 })
	t.Cleanup(h.Stop)
	return &voteHoldRig{t: t, in: in, hold: h}
}

// send delivers cmd and returns either raft's copy of the RPC (forwarded)
// or the response VoteHold made.
func (r *voteHoldRig) send(cmd any) (forwarded bool, resp any) {
	r.t.Helper()
	respCh := make(chan raft.RPCResponse, 1)
	rpc := raft.RPC{Command: cmd, RespChan: respCh}
	r.in <- rpc
	select {
	case got := <-r.hold.out:
		if got.Command != cmd {
			r.t.Fatalf("forwarded %T, sent %T", got.Command, cmd)
		}
		return true, nil
	case res := <-respCh:
		if res.Error != nil {
			r.t.Fatalf("refusal carries error %v", res.Error)
		}
		return false, res.Response
	case <-time.After(5 * time.Second):
		r.t.Fatal("RPC neither forwarded nor answered")
	}
	return false, nil
}

func TestVoteHoldRefusesVotesInWindow(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	r := newVoteHoldRig(t, clock)

	fwd, resp := r.send(&raft.RequestVoteRequest{Term: 9})
	vr, ok := resp.(*raft.RequestVoteResponse)
	if fwd || !ok || vr.Granted || vr.Term != 7 || string(vr.ID) != "me" {
		t.Fatalf("vote in window: forwarded=%v resp=%+v", fwd, resp)
	}
	fwd, resp = r.send(&raft.RequestPreVoteRequest{Term: 9})
	pr, ok := resp.(*raft.RequestPreVoteResponse)
	if fwd || !ok || pr.Granted || pr.Term != 7 || string(pr.ID) != "me" {
		t.Fatalf("pre-vote in window: forwarded=%v resp=%+v", fwd, resp)
	}
	if n := r.hold.Refused(); n != 2 {
		t.Fatalf("Refused() = %d, want 2", n)
	}
	// A leadership transfer's vote and every other RPC reach raft.
	if fwd, _ := r.send(&raft.RequestVoteRequest{Term: 9, LeadershipTransfer: true}); !fwd {
		t.Fatal("leadership transfer vote refused")
	}
	for _, cmd := range []any{&raft.AppendEntriesRequest{Term: 9}, &raft.TimeoutNowRequest{}, &raft.InstallSnapshotRequest{}} {
		if fwd, _ := r.send(cmd); !fwd {
			t.Fatalf("%T refused", cmd)
		}
	}

	// Just before the end the hold still refuses; from the end on, votes
	// reach raft, which decides on them.
	clock.set(time.Unix(1000, 0).Add(time.Second - time.Nanosecond))
	if fwd, _ := r.send(&raft.RequestVoteRequest{Term: 9}); fwd {
		t.Fatal("vote forwarded before the window ended")
	}
	clock.set(time.Unix(1001, 0))
	if fwd, _ := r.send(&raft.RequestVoteRequest{Term: 9}); !fwd {
		t.Fatal("vote refused after the window")
	}
	if fwd, _ := r.send(&raft.RequestPreVoteRequest{Term: 9}); !fwd {
		t.Fatal("pre-vote refused after the window")
	}
	// The hold does not come back, even if the clock did.
	clock.set(time.Unix(1000, 0))
	if fwd, _ := r.send(&raft.RequestVoteRequest{Term: 9}); !fwd {
		t.Fatal("vote refused after the window ended once")
	}
}

func TestVoteHoldStopUnblocks(t *testing.T) {
	in := make(chan raft.RPC, 1)
	h := NewVoteHold(in, time.Hour, raft.RPCHeader{})
	h.Stop() // without Start
	h = NewVoteHold(in, time.Hour, raft.RPCHeader{})
	h.Start(func() uint64 { return 1 })
	in <- raft.RPC{Command: &raft.AppendEntriesRequest{}} // nobody reads out
	done := make(chan struct{})
	go func() { h.Stop(); h.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop blocked on a pending forward")
	}
}
