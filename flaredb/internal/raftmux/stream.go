package raftmux

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// errPeerClosed is returned by Write on a stream the peer closed.
var errPeerClosed = errors.New("raftmux: stream closed by peer")

// stream is one virtual connection of a session: what a region's
// NetworkTransport sees as its net.Conn.
type stream struct {
	s  *session
	id uint32

	wmu sync.Mutex // one Write at a time keeps a Write's frames in order

	mu        sync.Mutex
	queue     [][]byte // received, unread payloads
	off       int      // read offset in queue[0]
	buffered  int      // unread bytes
	consumed  int      // read bytes not yet returned as credit
	credit    int      // bytes this side may still send
	closed    bool     // closed here
	peerDone  bool     // closed by the peer
	err       error    // the session failed
	rDeadline time.Time
	wDeadline time.Time
	readable  chan struct{}
	writable  chan struct{}
}

var _ net.Conn = (*stream)(nil)

func newStream(s *session, id uint32) *stream {
	return &stream{s: s, id: id, credit: streamWindow,
		readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push queues a received payload (session reader).
func (st *stream) push(p []byte) error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	if st.buffered+len(p) > streamWindow {
		st.mu.Unlock()
		return errProtocol // the peer ignored flow control
	}
	st.queue = append(st.queue, p)
	st.buffered += len(p)
	st.mu.Unlock()
	signal(st.readable)
	return nil
}

func (st *stream) addCredit(n int) {
	st.mu.Lock()
	st.credit += n
	st.mu.Unlock()
	signal(st.writable)
}

func (st *stream) remoteClose() {
	st.mu.Lock()
	st.peerDone = true
	st.mu.Unlock()
	signal(st.readable)
	signal(st.writable)
}

func (st *stream) fail(err error) {
	st.mu.Lock()
	st.err = err
	st.mu.Unlock()
	signal(st.readable)
	signal(st.writable)
}

// Read implements net.Conn.
func (st *stream) Read(p []byte) (int, error) {
	for {
		st.mu.Lock()
		if st.closed {
			st.mu.Unlock()
			return 0, net.ErrClosed
		}
		if st.buffered > 0 {
			n, grant := st.take(p)
			st.mu.Unlock()
			if grant > 0 {
				// A failed session fails the next Read or Write too.
				_ = st.s.send(frameWindow, st.id, binary.BigEndian.AppendUint32(nil, uint32(grant)))
			}
			return n, nil
		}
		if st.peerDone {
			st.mu.Unlock()
			return 0, io.EOF
		}
		if st.err != nil {
			err := st.err
			st.mu.Unlock()
			return 0, err
		}
		dl := st.rDeadline
		st.mu.Unlock()
		if !wait(st.readable, dl) {
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// take copies queued bytes into p (caller holds mu) and reports how much
// credit to return to the peer.
func (st *stream) take(p []byte) (n, grant int) {
	for n < len(p) && len(st.queue) > 0 {
		c := copy(p[n:], st.queue[0][st.off:])
		n += c
		st.off += c
		if st.off == len(st.queue[0]) {
			st.queue[0] = nil
			st.queue = st.queue[1:]
			st.off = 0
		}
	}
	if len(st.queue) == 0 {
		st.queue = nil // let the backing array go
	}
	st.buffered -= n
	st.consumed += n
	if st.consumed >= windowUpdateAt {
		grant, st.consumed = st.consumed, 0
	}
	return n, grant
}

// wait blocks until c is signalled (true) or the deadline passes (false).
func wait(c chan struct{}, deadline time.Time) bool {
	if deadline.IsZero() {
		<-c
		return true
	}
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-t.C:
		return false
	}
}

// Write implements net.Conn: p goes out as data frames within the stream's
// send credit.
func (st *stream) Write(p []byte) (int, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	total := 0
	for len(p) > 0 {
		n, err := st.reserve(len(p))
		if err != nil {
			return total, err
		}
		if err := st.s.send(frameData, st.id, p[:n]); err != nil {
			return total, err
		}
		total += n
		p = p[n:]
	}
	return total, nil
}

// reserve waits for send credit and takes up to want bytes of it.
func (st *stream) reserve(want int) (int, error) {
	for {
		st.mu.Lock()
		switch {
		case st.closed:
			st.mu.Unlock()
			return 0, net.ErrClosed
		case st.err != nil:
			err := st.err
			st.mu.Unlock()
			return 0, err
		case st.peerDone:
			st.mu.Unlock()
			return 0, errPeerClosed
		case st.credit > 0:
			n := min(want, st.credit, maxFramePayload)
			st.credit -= n
			st.mu.Unlock()
			return n, nil
		}
		dl := st.wDeadline
		st.mu.Unlock()
		if !wait(st.writable, dl) {
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// Close implements net.Conn: it tells the peer, which sees EOF.
func (st *stream) Close() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	st.closed = true
	tell := !st.peerDone && st.err == nil
	st.queue, st.buffered = nil, 0
	st.mu.Unlock()
	signal(st.readable)
	signal(st.writable)
	st.s.remove(st.id)
	if tell {
		_ = st.s.send(frameClose, st.id, nil)
	}
	return nil
}

// LocalAddr implements net.Conn.
func (st *stream) LocalAddr() net.Addr { return st.s.conn.LocalAddr() }

// RemoteAddr implements net.Conn.
func (st *stream) RemoteAddr() net.Addr { return st.s.conn.RemoteAddr() }

// SetDeadline implements net.Conn.
func (st *stream) SetDeadline(t time.Time) error {
	st.mu.Lock()
	st.rDeadline, st.wDeadline = t, t
	st.mu.Unlock()
	signal(st.readable) // a blocked call re-reads its deadline
	signal(st.writable)
	return nil
}

// SetReadDeadline implements net.Conn.
func (st *stream) SetReadDeadline(t time.Time) error {
	st.mu.Lock()
	st.rDeadline = t
	st.mu.Unlock()
	signal(st.readable)
	return nil
}

// SetWriteDeadline implements net.Conn.
func (st *stream) SetWriteDeadline(t time.Time) error {
	st.mu.Lock()
	st.wDeadline = t
	st.mu.Unlock()
	signal(st.writable)
	return nil
}
