package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchKey is the key every watcher watches and the putter writes.
const watchKey = "wlatency"

// runWatch measures put → event latency: row.Clients watchers on one key,
// spread over the connections (one watch stream per connection, as
// clientv3 multiplexes), while one client puts at o.PutRate per second.
// Each value carries its sequence number, so a watcher knows when the put
// it sees was sent. The figures are per delivered event; QPS is events
// delivered per second.
func runWatch(ctx context.Context, t *target, o Options, row Row) Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	puts := max(1, int(o.PutRate*o.Duration.Seconds()))
	sent := make([]atomic.Int64, puts+1) // unix nanos when put seq was sent
	ws := make([]*watcher, row.Clients)
	for i := range ws {
		c := i % len(t.conns)
		ws[i] = &watcher{
			ch:       t.conns[c].Watch(ctx, watchKey),
			onLeader: t.order[c%len(t.order)] == t.leader,
			ready:    make(chan struct{}), sent: sent, last: int64(puts),
		}
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); w.run() }()
	}
	defer wg.Wait()
	defer cancel()

	putter := t.conns[0]
	// Sequence 0 is the marker: once every watcher has seen it, every
	// watch is registered and the measured puts begin.
	if err := ensureWatchersReady(ctx, putter, ws, o.Warmup+30*time.Second); err != nil {
		return Result{Skip: skipReason(err)}
	}
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.PutRate))
	defer tick.Stop()
	putErrs := 0
	for seq := 1; seq <= puts; seq++ {
		<-tick.C
		sent[seq].Store(time.Now().UnixNano())
		if _, err := putter.Put(ctx, watchKey, seqValue(seq)); err != nil {
			putErrs++
		}
	}
	elapsed := time.Since(start)
	waitAll(ws, 15*time.Second)
	cancel()
	wg.Wait()

	var samples []time.Duration
	missing := 0
	for _, w := range ws {
		samples = append(samples, w.samples...)
		missing += (puts - putErrs) - len(w.samples)
	}
	logWatchSplit(o, t, ws)
	r := summarize(samples, putErrs+max(missing, 0), elapsed)
	for _, w := range ws {
		if w.err != nil && len(samples) == 0 {
			r.Skip = skipReason(w.err)
		}
	}
	return r
}

func ensureWatchersReady(ctx context.Context, putter *clientv3.Client, ws []*watcher, timeout time.Duration) error {
	deadline := time.After(timeout)
	marker := time.NewTicker(time.Second)
	defer marker.Stop()
	for {
		// Re-put the marker until all have seen one: a watch registered
		// after a put misses it.
		if _, err := putter.Put(ctx, watchKey, seqValue(0)); err != nil {
			return fmt.Errorf("marker put: %w", err)
		}
		ready := 0
		for _, w := range ws {
			select {
			case <-w.ready:
				ready++
			default:
				if err := w.failed(); err != nil {
					return err
				}
			}
		}
		if ready == len(ws) {
			return nil
		}
		select {
		case <-deadline:
			return fmt.Errorf("only %d of %d watchers saw the first event within %v", ready, len(ws), timeout)
		case <-marker.C:
		}
	}
}

// waitAll waits until every watcher saw the last put, or timeout.
func waitAll(ws []*watcher, timeout time.Duration) {
	deadline := time.After(timeout)
	for _, w := range ws {
		select {
		case <-w.doneCh():
		case <-deadline:
			return
		}
	}
}

func seqValue(seq int) string {
	b := []byte(newValue())
	binary.BigEndian.PutUint64(b, uint64(seq))
	return string(b)
}

// logWatchSplit logs the p50 of watchers on the leader and on followers
// apart: followers see an event only once they learn it committed.
func logWatchSplit(o Options, t *target, ws []*watcher) {
	var lead, follow []time.Duration
	for _, w := range ws {
		if w.onLeader {
			lead = append(lead, w.samples...)
		} else {
			follow = append(follow, w.samples...)
		}
	}
	fmt.Fprintf(o.Log, "#   %s watch p50: watchers on the leader %v, on followers %v\n", t.impl,
		summarize(lead, 0, 0).P50.Round(time.Microsecond), summarize(follow, 0, 0).P50.Round(time.Microsecond))
}

// watcher consumes one watch channel.
type watcher struct {
	ch       clientv3.WatchChan
	onLeader bool // the watch stream is served by the leader
	sent     []atomic.Int64
	last     int64
	ready    chan struct{} // closed at the first marker event

	once    sync.Once
	done    chan struct{}
	mu      sync.Mutex
	err     error
	samples []time.Duration
}

func (w *watcher) doneCh() chan struct{} {
	w.once.Do(func() { w.done = make(chan struct{}) })
	return w.done
}

func (w *watcher) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *watcher) run() {
	done := w.doneCh()
	isReady := false
	closed := false
	for resp := range w.ch {
		if err := resp.Err(); err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
		}
		now := time.Now().UnixNano()
		for _, ev := range resp.Events {
			if len(ev.Kv.Value) < 8 {
				continue
			}
			seq := int64(binary.BigEndian.Uint64(ev.Kv.Value))
			if seq == 0 || seq >= int64(len(w.sent)) {
				if !isReady {
					isReady = true
					close(w.ready)
				}
				continue
			}
			if at := w.sent[seq].Load(); at > 0 {
				w.samples = append(w.samples, time.Duration(now-at))
			}
			if seq == w.last && !closed {
				closed = true
				close(done)
			}
		}
	}
	if w.failed() == nil {
		w.mu.Lock()
		w.err = errors.New("watch channel closed")
		w.mu.Unlock()
	}
}
