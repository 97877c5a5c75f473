package server

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"time"
)

// maxPendingWrite bounds the bytes a coalescingConn holds beside the batch
// being written; a writer beyond it waits, so a peer that does not read
// still pushes back on the server.
const maxPendingWrite = 256 << 10

// maxKeptBuffer bounds the buffer a connection keeps between flushes, so
// idle connections do not each hold a burst's worth of memory.
const maxKeptBuffer = 32 << 10

// closeDrainTimeout bounds how long Close waits for pending bytes (a final
// response, a GOAWAY) to reach the socket before closing it anyway.
const closeDrainTimeout = 2 * time.Second

// coalescingListener wraps every accepted connection in a coalescingConn.
type coalescingListener struct{ net.Listener }

func (l coalescingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newCoalescingConn(c), nil
}

// coalescingConn batches the writes of one connection into fewer write(2)
// calls.
//
// net/http's HTTP/2 server flushes its frame buffer whenever its write
// queue runs empty, so with many streams on a connection each response
// tends to get its own write(2); on loopback each of those also runs the
// receiver's TCP processing, and together they were a quarter of a
// Chainfire member's CPU per read (grpc-go, which etcd uses, yields once
// before flushing a small batch for this reason). Here Write only copies
// the bytes and hands them to a flusher goroutine, which writes everything
// that accumulated while it was busy in one call. Bytes go out in order;
// a write error is returned by the next Write; Close first lets pending
// bytes out (bounded by closeDrainTimeout).
type coalescingConn struct {
	net.Conn

	mu       sync.Mutex
	space    *sync.Cond // signalled when the flusher took bytes or failed
	pending  []byte
	spare    []byte
	flushing bool
	drained  chan struct{} // closed when a flusher run ends; replaced on start
	err      error         // first write error, sticky
}

var errConnClosed = errors.New("server: write on closed connection")

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{Conn: c, drained: make(chan struct{})}
	close(cc.drained)
	cc.space = sync.NewCond(&cc.mu)
	return cc
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && len(c.pending) > 0 && len(c.pending)+len(p) > maxPendingWrite {
		c.space.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	c.pending = append(c.pending, p...)
	if !c.flushing {
		c.flushing = true
		c.drained = make(chan struct{})
		go c.flush(c.drained)
	}
	return len(p), nil
}

// flush writes pending bytes until there are none. Like grpc-go's writer it
// first yields once, so the responses other goroutines are about to write
// join this write(2).
func (c *coalescingConn) flush(drained chan struct{}) {
	runtime.Gosched()
	c.mu.Lock()
	defer func() {
		c.flushing = false
		close(drained)
		c.mu.Unlock()
	}()
	for len(c.pending) > 0 && c.err == nil {
		buf := c.pending
		c.pending, c.spare = c.spare[:0], nil
		c.space.Broadcast()
		c.mu.Unlock()
		_, err := c.Conn.Write(buf)
		c.mu.Lock()
		if cap(buf) <= maxKeptBuffer {
			c.spare = buf[:0]
		}
		if err != nil {
			c.err = err
			c.space.Broadcast()
		}
	}
}

// Close lets pending bytes out, then closes the connection.
func (c *coalescingConn) Close() error {
	c.waitDrained()
	err := c.Conn.Close()
	c.mu.Lock()
	if c.err == nil {
		c.err = errConnClosed
	}
	c.space.Broadcast()
	c.mu.Unlock()
	return err
}

// CloseWrite lets pending bytes out, then half-closes the connection when
// it supports that (net/http uses it for HTTP/1 connections).
func (c *coalescingConn) CloseWrite() error {
	c.waitDrained()
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// waitDrained waits, at most closeDrainTimeout, until no bytes are pending.
func (c *coalescingConn) waitDrained() {
	c.mu.Lock()
	drained := c.drained
	c.mu.Unlock()
	t := time.NewTimer(closeDrainTimeout)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
	}
}
