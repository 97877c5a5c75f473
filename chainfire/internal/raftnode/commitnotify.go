package raftnode

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Telling followers about a commit at once.
//
// hashicorp/raft's followers learn that an entry committed from the next
// AppendEntries the leader sends, and when no new entry follows, the
// leader sends one only after CommitTimeout (one to two of it). Watchers
// and linearizable reads on followers wait that long after the leader has
// applied. etcd's leader instead broadcasts an append as soon as its
// commit index moves.
//
// The leader here does the same from outside the library: when raft
// hands it committed entry N of its own term to apply and its log holds
// nothing newer (newer entries are in flight and their successors will
// carry the commit index soon), it sends each follower an AppendEntries with no entries, PrevLogEntry N
// with N's term and LeaderCommitIndex N. A follower that holds N with that
// term has, by the log matching property, the leader's log up to N, and
// moves its commit index to min(N, its last index) ≤ N, all of which is
// committed; one that does not hold it answers failure and changes
// nothing. The request carries the term N was written in, and is sent only
// while this replica is leader in that term, so it never speaks for a term
// it does not lead. A follower that does not hold N yet is asked again a
// few times within ~40 ms (its append of N is usually still being
// written); one that still cannot use the notice, or cannot be reached, is
// left alone for a second, so a lagging or restarting follower is not
// asked (and does not log a warning) once per commit; raft's own
// replication brings it up.
type commitNotifier struct {
	n       *Node
	running atomic.Pointer[notifierRun] // nil until the node has started
	mu      sync.Mutex
	// workers run until the node's context ends. Close does not wait for
	// them: one may be inside an RPC to an unreachable follower for the
	// transport's timeout, and once raft and the transport are shut down a
	// worker touches nothing else.
	workers map[raft.ServerID]*followerNotifier
	latest  atomic.Pointer[committedEntry]
}

// notifierRun is what the notifier needs once raft runs; raft applies
// entries (a restart's replay) before NewRaft has returned.
type notifierRun struct {
	ctx  context.Context
	raft *raft.Raft
}

// committedEntry is the newest committed entry the leader was handed.
type committedEntry struct{ index, term uint64 }

// followerNotifier sends one follower the newest commit, one at a time.
type followerNotifier struct {
	id     raft.ServerID
	addr   raft.ServerAddress
	wake   chan struct{} // capacity 1: pending notifications merge
	pauseT time.Time     // after a failure, no notification before this
}

// notifyPauseAfterFailure is how long a follower that could not use a
// notification is left to raft's own replication.
const notifyPauseAfterFailure = time.Second

func newCommitNotifier(n *Node) *commitNotifier {
	return &commitNotifier{n: n, workers: make(map[raft.ServerID]*followerNotifier)}
}

// start enables notifications; until then committed does nothing.
func (c *commitNotifier) start(ctx context.Context, r *raft.Raft) {
	c.running.Store(&notifierRun{ctx: ctx, raft: r})
}

// committed is called by the state machine wrapper with the last entry of
// each committed batch, before the batch is applied.
func (c *commitNotifier) committed(l *raft.Log) {
	run := c.running.Load()
	if run == nil {
		return
	}
	ctx, r := run.ctx, run.raft
	if r.State() != raft.Leader || r.LastIndex() != l.Index {
		return
	}
	c.latest.Store(&committedEntry{index: l.Index, term: l.Term})
	local := c.n.cfg.ID
	for _, s := range r.GetConfiguration().Configuration().Servers {
		if s.ID != local {
			c.worker(ctx, s.ID, s.Address).signal()
		}
	}
}

func (c *commitNotifier) worker(ctx context.Context, id raft.ServerID, addr raft.ServerAddress) *followerNotifier {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.workers[id]
	if w == nil || w.addr != addr {
		if w != nil {
			close(w.wake)
		}
		w = &followerNotifier{id: id, addr: addr, wake: make(chan struct{}, 1)}
		c.workers[id] = w
		go c.run(ctx, w)
	}
	return w
}

func (w *followerNotifier) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (c *commitNotifier) run(ctx context.Context, w *followerNotifier) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.wake:
			if !ok {
				return
			}
			c.sendWithRetry(ctx, w)
		}
	}
}

// sendWithRetry sends the newest notice to w's follower, asking again a
// few times if the follower does not hold the entry yet. The leader
// commits once one follower has the entry, so the notice often reaches
// the other while its own append of that entry is still being written; it
// has the entry a moment later.
func (c *commitNotifier) sendWithRetry(ctx context.Context, w *followerNotifier) {
	waits := []time.Duration{2 * time.Millisecond, 8 * time.Millisecond, 32 * time.Millisecond}
	for attempt := 0; ; attempt++ {
		switch c.send(w) {
		case noticeTaken, noticeSkipped:
			return
		case noticeBehind:
			if attempt < len(waits) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(waits[attempt]):
				}
				continue
			}
		}
		w.pauseT = time.Now().Add(notifyPauseAfterFailure)
		return
	}
}

type noticeResult int

const (
	noticeSkipped noticeResult = iota // nothing to send, or not leader
	noticeTaken                       // the follower moved its commit index
	noticeBehind                      // the follower does not hold the entry yet
	noticeFailed                      // unreachable, or refused for another reason
)

// send tells w's follower about the newest committed entry, if this replica
// still leads the term that entry was written in.
func (c *commitNotifier) send(w *followerNotifier) noticeResult {
	e := c.latest.Load()
	r := c.running.Load().raft
	if e == nil || time.Now().Before(w.pauseT) || r.State() != raft.Leader || r.CurrentTerm() != e.term {
		return noticeSkipped
	}
	local := c.n.cfg.ID
	peer := c.n.trans.EncodePeer(local, c.n.trans.LocalAddr())
	req := &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(local), Addr: peer},
		Term:              e.term,
		Leader:            peer,
		PrevLogEntry:      e.index,
		PrevLogTerm:       e.term,
		LeaderCommitIndex: e.index,
	}
	var resp raft.AppendEntriesResponse
	switch err := c.n.trans.AppendEntries(w.id, w.addr, req, &resp); {
	case err != nil:
		return noticeFailed
	case resp.Success:
		return noticeTaken
	case resp.Term == e.term && resp.LastLog < e.index:
		return noticeBehind
	}
	return noticeFailed
}

// notifyingFSM is the state machine as raft sees it: it tells the
// commit notifier about every batch the leader is about to apply.
type notifyingFSM struct {
	StateMachine
	notifier *commitNotifier
}

// Raft hands the state machine committed entries only, so followers are
// told before the leader applies them: they apply in parallel with it.
func (f notifyingFSM) Apply(l *raft.Log) any {
	f.notifier.committed(l)
	return f.StateMachine.Apply(l)
}

func (f notifyingFSM) ApplyBatch(logs []*raft.Log) []any {
	if len(logs) > 0 {
		f.notifier.committed(logs[len(logs)-1])
	}
	return f.StateMachine.ApplyBatch(logs)
}
