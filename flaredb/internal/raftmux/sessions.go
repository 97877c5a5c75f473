package raftmux

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// sessionSlot holds the session to one address; its lock serialises
// dialling so concurrent regions share one connection.
type sessionSlot struct {
	mu sync.Mutex
	s  *session
}

// Stats are cumulative counters of the mux's sessions.
type Stats struct {
	// Sessions counts session connections established (dialled or
	// accepted).
	Sessions uint64
	// Frames counts frames sent; Writes counts the write syscalls that
	// carried them (Frames/Writes is the coalescing factor).
	Frames, Writes uint64
}

// Stats reports the mux's counters.
func (m *Mux) Stats() Stats {
	return Stats{Sessions: m.sessions.Load(), Frames: m.frames.Load(), Writes: m.writes.Load()}
}

// session returns the live session to address, dialling one if needed.
func (m *Mux) session(address string, timeout time.Duration) (*session, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	slot := m.out[address]
	if slot == nil {
		slot = &sessionSlot{}
		m.out[address] = slot
	}
	m.mu.Unlock()
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.s != nil && slot.s.failed() == nil {
		return slot.s, nil
	}
	s, err := m.dialSession(address, timeout)
	if err != nil {
		return nil, err
	}
	slot.s = s
	return s, nil
}

func (m *Mux) dialSession(address string, timeout time.Duration) (*session, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.Dial("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("raftmux: dial %s: %w", address, err)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(header(sessionMagic, 0)); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("raftmux: send session header to %s: %w", address, err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	s := newSession(conn, true, &m.frames, &m.writes)
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		_ = conn.Close()
		return nil, ErrClosed
	}
	m.sessions.Add(1)
	s.start()
	return s, nil
}

// serveSession runs a session another store dialled.
func (m *Mux) serveSession(conn net.Conn) {
	s := newSession(conn, false, &m.frames, &m.writes)
	s.onOpen = func(st *stream, region uint64) {
		if !m.deliver(region, st) {
			_ = st.Close()
		}
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = conn.Close()
		return
	}
	m.in[s] = true
	m.mu.Unlock()
	s.onDone = func(s *session) {
		m.mu.Lock()
		delete(m.in, s)
		m.mu.Unlock()
	}
	m.sessions.Add(1)
	s.readLoop()
}

// sessionSets copies the session sets (caller holds m.mu; a slot's lock
// is taken after m.mu is released, as session takes them in the other
// order).
func (m *Mux) sessionSets() ([]*sessionSlot, []*session) {
	slots := make([]*sessionSlot, 0, len(m.out))
	for _, slot := range m.out {
		slots = append(slots, slot)
	}
	in := make([]*session, 0, len(m.in))
	for s := range m.in {
		in = append(in, s)
	}
	return slots, in
}

func closeSessions(slots []*sessionSlot, in []*session) {
	for _, slot := range slots {
		slot.mu.Lock()
		s := slot.s
		slot.mu.Unlock()
		if s != nil {
			s.close()
		}
	}
	for _, s := range in {
		s.close()
	}
}
