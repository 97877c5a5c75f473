package watch

import (
	"context"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
)

// InvalidID is the watch id of responses that concern no single watcher:
// a stream-wide progress response or a refused creation (etcd's -1).
const InvalidID = -1

// Stream is one etcd Watch RPC: a set of watchers with one ordered,
// bounded queue of responses. Watch, Cancel, RequestProgress and
// ProgressTick may be called from any goroutine; Next from one.
type Stream struct {
	hub *Hub
	q   *queue

	// Guarded by hub.mu.
	watchers map[int64]*watcher
	nextID   int64
	closed   bool
}

// NewStream opens a stream on the hub.
func (h *Hub) NewStream() (*Stream, error) {
	s := &Stream{hub: h, watchers: map[int64]*watcher{}}
	s.q = newQueue(h.opts.StreamBufferBytes, h.opts.StreamBufferResponses, h.kickSyncer)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	h.streams[s] = struct{}{}
	h.metrics.streams.Inc()
	return s, nil
}

// Watch creates a watcher and queues its created response, or a created
// and canceled one with the reason when the request is refused (etcd
// answers a refusal on the stream, never with an RPC error). It returns
// the watch id, InvalidID when refused.
func (s *Stream) Watch(req Request) int64 {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return InvalidID
	}
	refuse := func(reason string) int64 {
		s.q.pushControl(Response{WatchID: InvalidID, Created: true, Canceled: true, Rev: h.rev, CancelReason: reason})
		return InvalidID
	}
	if req.StartRev < 0 {
		return refuse(etcderr.Compacted.Msg)
	}
	key, end, err := normalizeRange(req.Key, req.End)
	if err != nil {
		return refuse(err.Error())
	}
	id := req.ID
	if id == 0 {
		for s.watchers[s.nextID] != nil {
			s.nextID++
		}
		id = s.nextID
		s.nextID++
	} else if s.watchers[id] != nil {
		return refuse(ErrDuplicateID.Error())
	}
	w := &watcher{id: id, stream: s, key: key, end: end, req: req}
	s.watchers[id] = w
	h.metrics.watchers.Inc()
	// The created response goes first, so it precedes every event.
	s.q.pushControl(Response{WatchID: id, Created: true, Rev: h.rev})
	switch {
	case req.StartRev == 0 || req.StartRev > h.rev:
		w.minRev = max(req.StartRev, h.rev+1)
		w.synced = true
		h.synced.add(w)
	default:
		w.minRev = req.StartRev
		h.unsynced[w] = struct{}{}
		h.metrics.slow.Inc()
		h.kickSyncer()
	}
	return id
}

// Cancel removes a watcher and queues its canceled response. An unknown id
// is ignored, as etcd ignores it.
func (s *Stream) Cancel(id int64) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	w := s.watchers[id]
	if w == nil || s.closed {
		return
	}
	h.removeLocked(w)
	s.q.pushControl(Response{WatchID: id, Canceled: true, Rev: h.rev})
	h.answerProgressLocked()
}

// removeLocked forgets a watcher everywhere.
func (h *Hub) removeLocked(w *watcher) {
	if w.removed {
		return
	}
	w.removed = true
	delete(w.stream.watchers, w.id)
	if w.synced {
		h.synced.remove(w)
	} else {
		delete(h.unsynced, w)
		h.metrics.slow.Dec()
	}
	h.metrics.watchers.Dec()
}

// RequestProgress asks for a stream-wide progress response (watch id -1):
// it is queued as soon as every watcher of the stream is synced, with the
// revision they have all been given everything up to.
func (s *Stream) RequestProgress() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return
	}
	h.progressWanted[s] = struct{}{}
	h.answerProgressLocked()
}

// answerProgressLocked queues the progress responses that can be given.
func (h *Hub) answerProgressLocked() {
	for s := range h.progressWanted {
		if s.closed {
			delete(h.progressWanted, s)
			continue
		}
		if !s.allSyncedLocked() {
			continue
		}
		delete(h.progressWanted, s)
		s.q.pushControl(Response{WatchID: InvalidID, Rev: h.rev})
	}
}

// allSyncedLocked reports whether every watcher has been given everything
// up to the hub's revision. A watcher starting in the future is not: a
// progress response at the hub's revision would tell its client to resume
// below its start.
func (s *Stream) allSyncedLocked() bool {
	for _, w := range s.watchers {
		if !w.synced || w.req.StartRev > s.hub.rev {
			return false
		}
	}
	return true
}

// ProgressTick queues a progress response for every watcher that asked
// for progress notifications, is synced, and was sent no events since the
// previous tick. The caller runs it periodically (etcd: every 10 minutes).
func (s *Stream) ProgressTick() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return
	}
	for _, w := range s.watchers {
		if !w.req.ProgressNotify {
			continue
		}
		if !w.sentSinceTick && w.synced && w.req.StartRev <= h.rev {
			// Best effort: a full queue means events are flowing anyway.
			s.q.pushData(Response{WatchID: w.id, Rev: h.rev})
		}
		w.sentSinceTick = false
	}
}

// Next waits for the stream's next response.
func (s *Stream) Next(ctx context.Context) (Response, error) {
	r, err := s.q.pop(ctx)
	if err == nil && len(r.Events) > 0 {
		s.hub.metrics.eventsSent.Add(float64(len(r.Events)))
	}
	return r, err
}

// TryNext returns the stream's next response if one is queued.
func (s *Stream) TryNext() (Response, bool) {
	r, ok, _ := s.q.tryPop()
	if ok && len(r.Events) > 0 {
		s.hub.metrics.eventsSent.Add(float64(len(r.Events)))
	}
	return r, ok
}

// WaitRoom waits until the stream's queue is short enough to take more
// control responses: the receive loop calls it before each request, so a
// client that creates watches without reading responses is slowed down
// rather than growing the queue.
func (s *Stream) WaitRoom(ctx context.Context) error {
	return s.q.waitBelow(ctx, s.hub.opts.StreamBufferResponses)
}

// Close cancels the stream's watchers and discards its queue.
func (s *Stream) Close() {
	h := s.hub
	h.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, w := range s.watchers {
			h.removeLocked(w)
		}
		delete(h.streams, s)
		delete(h.progressWanted, s)
		h.metrics.streams.Dec()
	}
	h.mu.Unlock()
	s.q.close()
}
