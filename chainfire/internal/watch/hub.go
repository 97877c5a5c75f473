package watch

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
)

// Options configures a Hub. The zero value of every limit picks a default.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// StreamBufferBytes and StreamBufferResponses bound one stream's
	// queued event responses (defaults 8 MiB and 256). A watcher whose
	// batch does not fit becomes unsynced and is caught up from the store.
	StreamBufferBytes     int
	StreamBufferResponses int
	// SyncInterval is how often the syncer looks at unsynced watchers
	// even when nothing woke it (default 100ms, as etcd).
	SyncInterval time.Duration
	// SyncBatchEvents bounds the history events one catch-up read holds
	// in memory (default 1000; a revision is never split).
	SyncBatchEvents int
	// SyncBatchBytes bounds the same read's keys and values (default 4 MiB).
	SyncBatchBytes int
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StreamBufferBytes <= 0 {
		o.StreamBufferBytes = 8 << 20
	}
	if o.StreamBufferResponses <= 0 {
		o.StreamBufferResponses = 256
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = 100 * time.Millisecond
	}
	if o.SyncBatchEvents <= 0 {
		o.SyncBatchEvents = 1000
	}
	if o.SyncBatchBytes <= 0 {
		o.SyncBatchBytes = 4 << 20
	}
	return o
}

// Hub fans committed changes out to watchers.
type Hub struct {
	store   *mvcc.Store
	opts    Options
	log     *slog.Logger
	metrics *metrics

	mu sync.Mutex
	// rev is the last revision handed to the synced group: every synced
	// watcher has been given every matching event up to it.
	rev int64
	// epoch changes when the store is replaced, voiding catch-up reads
	// made from the old one.
	epoch    uint64
	synced   watcherSet
	unsynced map[*watcher]struct{}
	streams  map[*Stream]struct{}
	// progressWanted are streams with a progress request waiting for all
	// their watchers to be synced.
	progressWanted map[*Stream]struct{}
	closed         bool

	wake chan struct{}
	quit chan struct{}
	done chan struct{}
}

// NewHub returns a Hub over store and starts its syncer.
func NewHub(store *mvcc.Store, opts Options) (*Hub, error) {
	opts = opts.withDefaults()
	mt, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	h := &Hub{
		store: store, opts: opts, log: opts.Logger.With("component", "watch"), metrics: mt,
		rev:            store.Rev(),
		synced:         newWatcherSet(),
		unsynced:       map[*watcher]struct{}{},
		streams:        map[*Stream]struct{}{},
		progressWanted: map[*Stream]struct{}{},
		wake:           make(chan struct{}, 1),
		quit:           make(chan struct{}),
		done:           make(chan struct{}),
	}
	go h.runSyncer()
	return h, nil
}

// Rev returns the last revision delivered to synced watchers.
func (h *Hub) Rev() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rev
}

// Committed implements apply.Observer: it queues each synced watcher's
// share of the batch on its stream, never waiting. A watcher whose stream
// is full becomes unsynced instead.
func (h *Hub) Committed(rev int64, events []mvcc.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if len(events) > 0 && h.synced.n > 0 {
		h.fanOut(rev, events)
	}
	if rev > h.rev {
		h.rev = rev
	}
	h.answerProgressLocked()
}

func (h *Hub) fanOut(rev int64, events []mvcc.Event) {
	var shares map[*watcher][]mvcc.Event
	for i := range events {
		ev := &events[i]
		h.synced.each(ev.KV.Key, func(w *watcher) {
			if !w.wants(ev) {
				return
			}
			if shares == nil {
				shares = map[*watcher][]mvcc.Event{}
			}
			shares[w] = append(shares[w], w.shape(ev))
		})
	}
	for w, evs := range shares {
		if w.stream.q.pushData(Response{WatchID: w.id, Events: evs, Rev: rev, Fragment: w.req.Fragment}) {
			w.sentSinceTick = true
			continue
		}
		h.demoteLocked(w)
	}
}

// demoteLocked moves a synced watcher to the unsynced group. It has been
// given everything up to h.rev, so it resumes after that (or at its own
// start revision, if that is later).
func (h *Hub) demoteLocked(w *watcher) {
	if !w.synced {
		return
	}
	w.minRev = max(w.minRev, h.rev+1)
	w.synced = false
	h.synced.remove(w)
	h.unsynced[w] = struct{}{}
	h.metrics.slow.Inc()
	h.kickSyncer()
}

// promoteLocked moves a caught-up watcher into the synced group.
func (h *Hub) promoteLocked(w *watcher) {
	if w.synced {
		return
	}
	delete(h.unsynced, w)
	h.metrics.slow.Dec()
	w.synced = true
	h.synced.add(w)
}

// Restored implements apply.Observer: the store was replaced, so the
// events between the hub's revision and rev will never be committed one
// by one. Every watcher is caught up from the new store instead.
func (h *Hub) Restored(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for _, w := range h.synced.all() {
		h.demoteLocked(w)
	}
	h.epoch++
	h.rev = rev
	h.log.Info("store restored; resyncing every watcher", "revision", rev, "watchers", len(h.unsynced))
}

// Close cancels every watcher and closes every stream.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	streams := make([]*Stream, 0, len(h.streams))
	for s := range h.streams {
		streams = append(streams, s)
	}
	h.mu.Unlock()
	close(h.quit)
	<-h.done
	for _, s := range streams {
		s.Close()
	}
}

func (h *Hub) kickSyncer() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Stats is a snapshot of the hub's state, for tests and diagnostics.
type Stats struct {
	Watchers, Unsynced, Streams int
	// QueuedResponses and QueuedBytes sum every stream's queue.
	QueuedResponses, QueuedBytes int
}

// Stats returns the hub's current state.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	st := Stats{Watchers: h.synced.n + len(h.unsynced), Unsynced: len(h.unsynced), Streams: len(h.streams)}
	streams := make([]*Stream, 0, len(h.streams))
	for s := range h.streams {
		streams = append(streams, s)
	}
	h.mu.Unlock()
	for _, s := range streams {
		n, b := s.q.usage()
		st.QueuedResponses += n
		st.QueuedBytes += b
	}
	return st
}
