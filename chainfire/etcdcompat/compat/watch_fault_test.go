package compat

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// faultRounds is how many kill/restart rounds TestWatchUnderFaults runs:
// $COMPAT_WATCH_FAULT_ROUNDS, default 6 (well under a minute).
func faultRounds(t *testing.T) int {
	t.Helper()
	s := os.Getenv("COMPAT_WATCH_FAULT_ROUNDS")
	if s == "" {
		return 6
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("$COMPAT_WATCH_FAULT_ROUNDS=%q: want a positive integer", s)
	}
	return n
}

// recorder collects one watcher's events in arrival order.
type recorder struct {
	name string
	mu   sync.Mutex
	evs  []ev
	errs []error
	seen chan struct{} // closed when the end marker arrives
}

func (r *recorder) run(ctx context.Context, wch clientv3.WatchChan, endKey string) {
	defer func() {
		select {
		case <-r.seen:
		default:
			close(r.seen)
		}
	}()
	for resp := range wch {
		r.mu.Lock()
		if err := resp.Err(); err != nil {
			r.errs = append(r.errs, err)
		}
		done := false
		for _, e := range resp.Events {
			r.evs = append(r.evs, evOf(e))
			done = done || string(e.Kv.Key) == endKey
		}
		r.mu.Unlock()
		if done {
			return
		}
	}
}

// TestWatchUnderFaults kills and restarts members (the leader and
// followers, with SIGKILL) while writers write and watchers watch, then
// checks etcd's watch guarantees against the writes' own history:
//   - ordered and unique: each watcher's revisions strictly increase (every
//     write is a single put, so one event per revision);
//   - reliable: the revisions from the start to the end marker are all
//     there, no gap, and every acknowledged write is among them with its
//     value;
//   - every watcher, pinned to one member or using all, saw exactly the
//     same events, across its member's crash and clientv3's resumption;
//   - resumable: a watch started from any revision afterwards replays
//     exactly the history's suffix from there.
func TestWatchUnderFaults(t *testing.T) {
	rounds := faultRounds(t)
	ctx := deadline(t, 90*time.Second+time.Duration(rounds)*30*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	p := "wf/"
	endKey := p + "zz-end"
	put := func(k, v string) int64 {
		t.Helper()
		for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			resp, err := cli.Put(rctx, k, v)
			cancel()
			if err == nil {
				return resp.Header.Revision
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("put %s: %v", k, err)
			}
		}
	}
	start := put(p+"start", "start")

	// Watchers: one pinned to each member, one over all members.
	var recs []*recorder
	watchFrom := func(name string, wcli *clientv3.Client) {
		r := &recorder{name: name, seen: make(chan struct{})}
		recs = append(recs, r)
		go r.run(ctx, wcli.Watch(ctx, p, clientv3.WithPrefix(), clientv3.WithRev(start)), endKey)
	}
	for i, m := range c.Members() {
		watchFrom(fmt.Sprintf("pinned to member %d", i), c.Client(t, m.Endpoint()))
	}
	watchFrom("all members", c.Client(t))

	// Writers: fresh keys whose value is the key; acknowledged revisions
	// recorded.
	var (
		mu    sync.Mutex
		acked = map[string]int64{}
		nAck  atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wcli := c.Client(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("%sw%d/%06d", p, w, seq)
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				resp, err := wcli.Put(rctx, k, k)
				cancel()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					time.Sleep(50 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked[k] = resp.Header.Revision
				mu.Unlock()
				nAck.Add(1)
			}
		}()
	}
	waitAcks := func(phase string, n int64) {
		t.Helper()
		from := nAck.Load()
		for nAck.Load()-from < n {
			if ctx.Err() != nil {
				t.Fatalf("%s: only %d acknowledged writes", phase, nAck.Load()-from)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	waitAcks("before the faults", 50)
	for round := range rounds {
		victim := c.Follower(t, cli)
		if round%2 == 0 {
			victim = c.WaitLeader(t, cli)
		}
		c.Kill(t, victim)
		waitAcks(fmt.Sprintf("round %d, member %d down", round, victim), 100)
		c.Restart(t, victim)
		waitAcks(fmt.Sprintf("round %d, member %d back", round, victim), 50)
	}
	close(stop)
	wg.Wait()
	end := put(endKey, endKey)
	t.Logf("%d rounds, %d acknowledged writes, revisions %d..%d", rounds, nAck.Load(), start, end)

	for _, r := range recs {
		select {
		case <-r.seen:
		case <-ctx.Done():
			t.Fatalf("watcher %s never saw the end marker at %d", r.name, end)
		}
	}
	ref := checkHistory(t, recs[len(recs)-1], start, end, acked)
	for _, r := range recs {
		sameEvents(t, r.name, r.evs, ref)
	}
	checkResumable(t, ctx, c, p, endKey, ref)
}

// checkHistory checks one watcher's events against the writes: one put
// per revision from start to end, no gap, ordered, and every acknowledged
// write present with its value. It returns the events as the reference.
func checkHistory(t *testing.T, r *recorder, start, end int64, acked map[string]int64) []ev {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) > 0 {
		t.Fatalf("watcher %s got errors: %v", r.name, r.errs)
	}
	if int64(len(r.evs)) != end-start+1 {
		t.Fatalf("watcher %s: %d events for revisions %d..%d", r.name, len(r.evs), start, end)
	}
	byKey := map[string]ev{}
	for i, e := range r.evs {
		if e.rev != start+int64(i) {
			t.Fatalf("watcher %s: event %d at revision %d, want %d (gap, duplicate or disorder)", r.name, i, e.rev, start+int64(i))
		}
		if i > 0 && i < len(r.evs)-1 && (e.val != e.key || e.typ != clientv3.EventTypePut) {
			t.Fatalf("watcher %s: event %s is no writer's put", r.name, e)
		}
		byKey[e.key] = e
	}
	for k, rev := range acked {
		if e, ok := byKey[k]; !ok || e.rev != rev {
			t.Fatalf("acknowledged write %s at %d: watched %v (present %v)", k, rev, e, ok)
		}
	}
	return r.evs
}

func sameEvents(t *testing.T, name string, got, want []ev) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("watcher %s: %d events, the reference has %d", name, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("watcher %s: event %d is %s, the reference has %s", name, i, got[i], want[i])
		}
	}
}

// checkResumable starts watches from random revisions of the history and
// checks each replays exactly the history from there.
func checkResumable(t *testing.T, ctx context.Context, c *cluster.Cluster, p, endKey string, ref []ev) {
	t.Helper()
	cli := c.Client(t)
	for range 5 {
		i := rand.IntN(len(ref))
		r := &recorder{name: fmt.Sprintf("resumed at %d", ref[i].rev), seen: make(chan struct{})}
		wctx, cancel := context.WithCancel(ctx)
		go r.run(wctx, cli.Watch(wctx, p, clientv3.WithPrefix(), clientv3.WithRev(ref[i].rev)), endKey)
		select {
		case <-r.seen:
		case <-ctx.Done():
			cancel()
			t.Fatalf("watch resumed at %d never reached the end", ref[i].rev)
		}
		cancel()
		r.mu.Lock()
		sameEvents(t, r.name, r.evs, ref[i:])
		r.mu.Unlock()
	}
}
