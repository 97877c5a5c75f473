package watch

import (
	"context"
	"sync"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
)

// Response is one message for a stream's client, in etcd's terms.
type Response struct {
	// WatchID is the watcher it concerns; -1 for a stream-wide progress
	// response or a rejected creation.
	WatchID  int64
	Created  bool
	Canceled bool
	// Events are in revision order; all events of a revision are in one
	// Response.
	Events []mvcc.Event
	// Rev is the header revision: for a progress response, every later
	// event of the watcher (or stream) has a higher revision.
	Rev          int64
	CompactRev   int64
	CancelReason string
	// Fragment is the watcher's fragment option, for the sender.
	Fragment bool
}

// IsProgress reports whether r is a progress notification.
func (r *Response) IsProgress() bool {
	return len(r.Events) == 0 && !r.Created && !r.Canceled && r.CompactRev == 0
}

// eventOverhead approximates the bytes an event costs beyond its keys and
// values, for the queue's memory bound.
const eventOverhead = 64

func responseBytes(r *Response) int {
	n := eventOverhead
	for i := range r.Events {
		ev := &r.Events[i]
		n += eventOverhead + len(ev.KV.Key) + len(ev.KV.Value)
		if ev.PrevKV != nil {
			n += eventOverhead + len(ev.PrevKV.Key) + len(ev.PrevKV.Value)
		}
	}
	return n
}

// queue is a stream's outbound FIFO. Event responses are admitted only
// under the byte and count limits; control responses (created, canceled)
// always are, since dropping them would break the protocol. Their number
// is bounded by the stream's receive loop, which waits for room before it
// handles another request.
type queue struct {
	maxBytes, maxItems int

	mu     sync.Mutex
	items  []Response
	head   int
	bytes  int
	closed bool
	// refused records that an event response was turned away since the
	// queue last drained below half: someone is waiting for room.
	refused bool
	wake    chan struct{} // signalled when an item is added or the queue closes
	popped  chan struct{} // signalled when an item is taken
	// onRoom runs (without the lock) when a queue that refused a response
	// drains below half, so the syncer can catch its watchers up.
	onRoom func()
}

func newQueue(maxBytes, maxItems int, onRoom func()) *queue {
	return &queue{
		maxBytes: maxBytes, maxItems: maxItems, onRoom: onRoom,
		wake: make(chan struct{}, 1), popped: make(chan struct{}, 1),
	}
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) lenLocked() int { return len(q.items) - q.head }

// hasRoom reports whether an event response would be admitted now; if
// not, the queue remembers to call onRoom once it drains.
func (q *queue) hasRoom() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.roomLocked(0) {
		return true
	}
	q.refused = true
	return false
}

func (q *queue) roomLocked(size int) bool {
	if q.lenLocked() >= q.maxItems {
		return false
	}
	// An empty queue always takes one response, however large, so a
	// single huge revision can still be delivered.
	return q.lenLocked() == 0 || q.bytes+size <= q.maxBytes
}

// pushData queues an event response if it fits; false means it did not
// and the caller must deliver it later from the store.
func (q *queue) pushData(r Response) bool {
	size := responseBytes(&r)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return true // nobody will read it: as good as delivered
	}
	if !q.roomLocked(size) {
		q.refused = true
		return false
	}
	q.bytes += size
	q.items = append(q.items, r)
	q.signal()
	return true
}

// pushControl queues a response regardless of the limits.
func (q *queue) pushControl(r Response) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.bytes += responseBytes(&r)
	q.items = append(q.items, r)
	q.signal()
}

// pop waits for the next response. It fails when ctx ends or the queue is
// closed.
func (q *queue) pop(ctx context.Context) (Response, error) {
	for {
		r, ok, err := q.tryPop()
		if err != nil || ok {
			return r, err
		}
		select {
		case <-q.wake:
		case <-ctx.Done():
			return Response{}, ctx.Err()
		}
	}
}

// tryPop takes the next response if there is one.
func (q *queue) tryPop() (Response, bool, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return Response{}, false, ErrClosed
	}
	if q.lenLocked() == 0 {
		q.mu.Unlock()
		return Response{}, false, nil
	}
	r := q.items[q.head]
	q.items[q.head] = Response{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		q.items = append(q.items[:0:0], q.items[q.head:]...)
		q.head = 0
	}
	q.bytes -= responseBytes(&r)
	room := q.refused && q.lenLocked() < q.maxItems/2 && q.bytes < q.maxBytes/2
	if room {
		q.refused = false
	}
	q.mu.Unlock()
	select {
	case q.popped <- struct{}{}:
	default:
	}
	if room && q.onRoom != nil {
		q.onRoom()
	}
	return r, true, nil
}

// waitBelow waits until fewer than n responses are queued.
func (q *queue) waitBelow(ctx context.Context, n int) error {
	for {
		q.mu.Lock()
		l, closed := q.lenLocked(), q.closed
		q.mu.Unlock()
		if closed {
			return ErrClosed
		}
		if l < n {
			return nil
		}
		select {
		case <-q.popped:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.items, q.head, q.bytes = nil, 0, 0
	q.signal()
	select {
	case q.popped <- struct{}{}:
	default:
	}
}

// usage returns the queued responses and their estimated bytes.
func (q *queue) usage() (items, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lenLocked(), q.bytes
}
