// Package raftmux carries the Raft traffic of every region a store hosts
// over one TCP port and, between two stores, over one TCP connection.
//
// hashicorp/raft's NetworkTransport runs on a raft.StreamLayer (a listener
// plus a dialer) and knows nothing of regions. Mux owns the store's single
// raft listener and hands each region a virtual StreamLayer (Layer). A
// Layer's Dial does not open a TCP connection: it opens a stream on the
// session (session.go) the store keeps with the target store, tagged with
// the region id; the accepting Mux queues the stream on that region's
// virtual listener, after which the bytes are the transport's own. So
// NetworkTransport is used unchanged, one per region, while every region's
// AppendEntries between two stores share one connection, and frames that
// are sent at the same time share one write syscall (the per-region
// connections made a busy store spend a quarter of its CPU in write and
// read syscalls, one per RPC and response).
//
// A stream for a region this store does not host (yet, or any more) is
// closed; the remote transport's RPC fails and raft retries later, which
// is what a real network partition looks like to it too. A connection that
// starts with the older per-connection header (magic + region id, one TCP
// connection per stream) is still accepted.
package raftmux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// headerMagic starts every multiplexed connection; it turns a stray
// connection (a port scan, a client dialling the wrong port) into a clean
// rejection instead of a bogus region id.
const headerMagic uint32 = 0xFDB0AF71

// sessionMagic starts a session connection (its id field is zero).
const sessionMagic uint32 = 0xFDB0AF72

const headerLen = 12

// handshakeTimeout bounds how long an accepted connection may take to send
// its header.
const handshakeTimeout = 10 * time.Second

// ErrClosed is returned by Accept on a closed Layer or Mux.
var ErrClosed = errors.New("raftmux: closed")

// Mux accepts the store's raft connections and dispatches them by region.
type Mux struct {
	ln        net.Listener
	advertise string
	log       *slog.Logger

	mu       sync.Mutex
	layers   map[uint64]*Layer
	out      map[string]*sessionSlot // sessions this store dialled, by address
	in       map[*session]bool       // sessions other stores dialled
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup
	frames   atomic.Uint64
	writes   atomic.Uint64
	sessions atomic.Uint64
}

// Listen binds addr and starts dispatching. advertise is the address peers
// dial (the bound address when empty).
func Listen(addr, advertise string, log *slog.Logger) (*Mux, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("raftmux: listen on %s: %w", addr, err)
	}
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mux{ln: ln, advertise: advertise, log: log, layers: map[uint64]*Layer{},
		out: map[string]*sessionSlot{}, in: map[*session]bool{}, done: make(chan struct{})}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// Addr is the address peers dial.
func (m *Mux) Addr() string { return m.advertise }

// Close stops accepting and closes every region's layer.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	layers := m.layers
	m.layers = map[uint64]*Layer{}
	slots, in := m.sessionSets()
	m.mu.Unlock()
	err := m.ln.Close()
	for _, l := range layers {
		_ = l.Close()
	}
	closeSessions(slots, in)
	m.wg.Wait()
	return err
}

// Layer returns a new virtual StreamLayer for region, replacing (and
// closing) any previous one.
func (m *Mux) Layer(region uint64) (*Layer, error) {
	l := &Layer{mux: m, region: region, conns: make(chan net.Conn, 16), done: make(chan struct{})}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	old := m.layers[region]
	m.layers[region] = l
	m.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return l, nil
}

func (m *Mux) remove(l *Layer) {
	m.mu.Lock()
	if m.layers[l.region] == l {
		delete(m.layers, l.region)
	}
	m.mu.Unlock()
}

func (m *Mux) acceptLoop() {
	defer m.wg.Done()
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.log.Warn("raft accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		m.wg.Add(1)
		go func() { defer m.wg.Done(); m.dispatch(conn) }()
	}
}

// dispatch reads conn's header and serves it as a session, or hands a
// single-stream connection to its region's layer.
func (m *Mux) dispatch(conn net.Conn) {
	_ = conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	magic, region, err := readHeader(conn)
	if err != nil {
		m.log.Debug("raft connection rejected", "remote", conn.RemoteAddr().String(), "err", err)
		_ = conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	if magic == sessionMagic {
		m.serveSession(conn)
		return
	}
	if !m.deliver(region, conn) {
		_ = conn.Close()
	}
}

// deliver hands conn to region's layer; false when none takes it.
func (m *Mux) deliver(region uint64, conn net.Conn) bool {
	m.mu.Lock()
	l := m.layers[region]
	m.mu.Unlock()
	return l != nil && l.deliver(conn)
}

// readHeader reads a connection's header: a session (region 0) or a
// single-stream connection for region.
func readHeader(r io.Reader) (magic uint32, region uint64, err error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, fmt.Errorf("read header: %w", err)
	}
	magic = binary.BigEndian.Uint32(h[:4])
	region = binary.BigEndian.Uint64(h[4:])
	switch {
	case magic == sessionMagic && region == 0:
		return magic, 0, nil
	case magic == sessionMagic:
		return 0, 0, errors.New("session header with a region id")
	case magic != headerMagic:
		return 0, 0, errors.New("bad header magic")
	case region == 0:
		return 0, 0, errors.New("region id 0")
	}
	return magic, region, nil
}

func header(magic uint32, region uint64) []byte {
	h := make([]byte, headerLen)
	binary.BigEndian.PutUint32(h, magic)
	binary.BigEndian.PutUint64(h[4:], region)
	return h
}

// Layer is one region's virtual raft.StreamLayer.
type Layer struct {
	mux    *Mux
	region uint64
	conns  chan net.Conn
	once   sync.Once
	done   chan struct{}
}

var _ raft.StreamLayer = (*Layer)(nil)

// deliver queues conn for Accept; false when the layer is closed or its
// transport is not keeping up.
func (l *Layer) deliver(conn net.Conn) bool {
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.conns <- conn:
		return true
	case <-l.done:
		return false
	case <-time.After(handshakeTimeout):
		return false
	}
}

// Accept implements net.Listener.
func (l *Layer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, ErrClosed
	}
}

// Close implements net.Listener: it stops this region's accepts only.
func (l *Layer) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.mux.remove(l)
		for {
			select {
			case c := <-l.conns:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return nil
}

// Addr implements net.Listener: the store's advertised raft address.
func (l *Layer) Addr() net.Addr { return addr(l.mux.advertise) }

// Dial implements raft.StreamLayer: it opens a stream for this layer's
// region on the session with the store at address, dialling the session
// first if there is none.
func (l *Layer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	s, err := l.mux.session(string(address), timeout)
	if err != nil {
		return nil, err
	}
	st, err := s.open(l.region)
	if err != nil {
		return nil, fmt.Errorf("raftmux: open stream to %s: %w", address, err)
	}
	return st, nil
}

type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
