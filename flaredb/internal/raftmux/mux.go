// Package raftmux carries the Raft traffic of every region a store hosts
// over one TCP port.
//
// hashicorp/raft's NetworkTransport runs on a raft.StreamLayer (a listener
// plus a dialer) and knows nothing of regions. Mux owns the store's single
// raft listener and hands each region a virtual StreamLayer (Layer): a
// connection dialled through a Layer first sends a fixed 12-byte header
// (magic + region id); the accepting Mux reads it and queues the connection
// on that region's virtual listener, after which the bytes are the
// transport's own. So NetworkTransport is used unchanged, one per region,
// and all regions share the port.
//
// A connection for a region this store does not host (yet, or any more) is
// closed; the remote transport's dial fails and raft retries later, which
// is what a real network partition looks like to it too.
package raftmux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// headerMagic starts every multiplexed connection; it turns a stray
// connection (a port scan, a client dialling the wrong port) into a clean
// rejection instead of a bogus region id.
const headerMagic uint32 = 0xFDB0AF71

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

	mu     sync.Mutex
	layers map[uint64]*Layer
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
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
	m := &Mux{ln: ln, advertise: advertise, log: log, layers: map[uint64]*Layer{}, done: make(chan struct{})}
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
	m.mu.Unlock()
	err := m.ln.Close()
	for _, l := range layers {
		_ = l.Close()
	}
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

// dispatch reads conn's header and hands it to its region's layer.
func (m *Mux) dispatch(conn net.Conn) {
	_ = conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	region, err := readHeader(conn)
	if err != nil {
		m.log.Debug("raft connection rejected", "remote", conn.RemoteAddr().String(), "err", err)
		_ = conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	m.mu.Lock()
	l := m.layers[region]
	m.mu.Unlock()
	if l == nil || !l.deliver(conn) {
		_ = conn.Close()
	}
}

func readHeader(r io.Reader) (uint64, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, fmt.Errorf("read header: %w", err)
	}
	if binary.BigEndian.Uint32(h[:4]) != headerMagic {
		return 0, errors.New("bad header magic")
	}
	id := binary.BigEndian.Uint64(h[4:])
	if id == 0 {
		return 0, errors.New("region id 0")
	}
	return id, nil
}

func header(region uint64) []byte {
	h := make([]byte, headerLen)
	binary.BigEndian.PutUint32(h, headerMagic)
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

// Dial implements raft.StreamLayer: it connects to the store at address
// and names this layer's region.
func (l *Layer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(header(l.region)); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("raftmux: send header to %s: %w", address, err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
