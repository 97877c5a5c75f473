package raftmux

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A session is one TCP connection between two stores that carries the
// streams (virtual connections) of every region, TiKV-style: one
// connection per store pair instead of one per region and pooled RPC
// stream.
//
// Writes are coalesced without a writer goroutine or timer: a stream's
// Write appends its frame to the session's pending buffer, and if no write
// is in progress it becomes the writer: it yields once to the scheduler,
// then flushes the buffer, again and again while others keep appending
// during its syscall. So an idle store pays one syscall per frame, and a
// busy one, where many regions' leaders send AppendEntries at once, one
// syscall for several frames.
type session struct {
	conn   net.Conn
	dialer bool // this side opens streams
	onOpen func(st *stream, region uint64)
	onDone func(*session)

	wmu     sync.Mutex
	pending []byte
	spare   []byte
	writing bool

	smu     sync.Mutex
	streams map[uint32]*stream
	nextID  uint32
	err     error // set once when the session fails
	done    chan struct{}

	frames, writes *atomic.Uint64 // the mux's counters
}

// sessionWriteTimeout fails a session whose peer stopped reading.
const sessionWriteTimeout = 30 * time.Second

// maxSpare bounds the write buffer kept between flushes.
const maxSpare = 1 << 20

func newSession(conn net.Conn, dialer bool, frames, writes *atomic.Uint64) *session {
	return &session{conn: conn, dialer: dialer, streams: map[uint32]*stream{}, done: make(chan struct{}),
		frames: frames, writes: writes}
}

// start runs the session's reader.
func (s *session) start() { go s.readLoop() }

// open starts a stream for region (dialling side only).
func (s *session) open(region uint64) (*stream, error) {
	s.smu.Lock()
	if s.err != nil {
		err := s.err
		s.smu.Unlock()
		return nil, err
	}
	s.nextID++
	for s.streams[s.nextID] != nil || s.nextID == 0 {
		s.nextID++
	}
	st := newStream(s, s.nextID)
	s.streams[st.id] = st
	s.smu.Unlock()
	if err := s.send(frameOpen, st.id, binary.BigEndian.AppendUint64(nil, region)); err != nil {
		return nil, err
	}
	return st, nil
}

// send queues one frame and, unless another goroutine is writing, writes
// everything queued. The frame is copied; send never waits for the
// frames of others beyond the writes it does itself.
func (s *session) send(typ byte, id uint32, payload []byte) error {
	s.wmu.Lock()
	if err := s.failed(); err != nil {
		s.wmu.Unlock()
		return err
	}
	s.pending = appendFrame(s.pending, typ, id, payload)
	s.frames.Add(1)
	if s.writing {
		s.wmu.Unlock()
		return nil
	}
	s.writing = true
	// Let goroutines that are about to send (other regions' leaders and
	// followers woken by the same shared log sync) queue their frames
	// first: it about halves the write syscalls of a busy store, for the
	// price of one scheduler round, without a timer.
	s.wmu.Unlock()
	runtime.Gosched()
	s.wmu.Lock()
	var err error
	for len(s.pending) > 0 && err == nil {
		buf := s.pending
		s.pending = s.spare[:0]
		s.wmu.Unlock()
		_ = s.conn.SetWriteDeadline(time.Now().Add(sessionWriteTimeout))
		_, err = s.conn.Write(buf)
		s.writes.Add(1)
		s.wmu.Lock()
		// The flushed buffer becomes the next spare (pending now holds
		// the old spare), or none when it grew too large to keep.
		s.spare = nil
		if cap(buf) <= maxSpare {
			s.spare = buf[:0]
		}
	}
	s.writing = false
	if err != nil {
		s.pending = nil
	}
	s.wmu.Unlock()
	if err != nil {
		err = fmt.Errorf("raftmux: session write: %w", err)
		s.fail(err)
	}
	return err
}

func (s *session) failed() error {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.err
}

// fail closes the session and every stream on it with err.
func (s *session) fail(err error) {
	s.smu.Lock()
	if s.err != nil {
		s.smu.Unlock()
		return
	}
	s.err = err
	streams := s.streams
	s.streams = map[uint32]*stream{}
	close(s.done)
	s.smu.Unlock()
	_ = s.conn.Close()
	for _, st := range streams {
		st.fail(err)
	}
	if s.onDone != nil {
		s.onDone(s)
	}
}

func (s *session) remove(id uint32) {
	s.smu.Lock()
	delete(s.streams, id)
	s.smu.Unlock()
}

func (s *session) stream(id uint32) *stream {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.streams[id]
}

func (s *session) readLoop() {
	r := bufio.NewReaderSize(s.conn, 64<<10)
	for {
		f, err := readFrame(r)
		if err == nil {
			err = s.handle(f)
		}
		if err != nil {
			s.fail(fmt.Errorf("raftmux: session read: %w", err))
			return
		}
	}
}

// handle dispatches one received frame. Frames for a stream already closed
// here are dropped: the peer learns of the close from our close frame.
func (s *session) handle(f frame) error {
	switch f.typ {
	case frameOpen:
		return s.accept(f.id, binary.BigEndian.Uint64(f.payload))
	case frameData:
		if st := s.stream(f.id); st != nil {
			return st.push(f.payload)
		}
	case frameClose:
		if st := s.stream(f.id); st != nil {
			s.remove(f.id)
			st.remoteClose()
		}
	case frameWindow:
		if st := s.stream(f.id); st != nil {
			st.addCredit(int(binary.BigEndian.Uint32(f.payload)))
		}
	}
	return nil
}

// accept registers a stream the peer opened and hands it to its region.
func (s *session) accept(id uint32, region uint64) error {
	if s.dialer {
		return fmt.Errorf("%w: open frame from the accepting side", errProtocol)
	}
	st := newStream(s, id)
	s.smu.Lock()
	if s.err != nil {
		s.smu.Unlock()
		return nil
	}
	if s.streams[id] != nil || id == 0 {
		s.smu.Unlock()
		return fmt.Errorf("%w: stream %d opened twice", errProtocol, id)
	}
	s.streams[id] = st
	s.smu.Unlock()
	// Delivery may wait for the region's transport; the reader must not.
	go s.onOpen(st, region)
	return nil
}

// close ends the session (the mux is closing).
func (s *session) close() { s.fail(ErrClosed) }
