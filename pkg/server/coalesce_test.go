package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestCoalescingConnKeepsOrderAndBytes: many writes, larger in total than
// the pending bound, arrive complete and in order, and Close lets the last
// of them out before closing.
func TestCoalescingConnKeepsOrderAndBytes(t *testing.T) {
	client, server := tcpPair(t)
	cc := newCoalescingConn(server)
	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	for i := range 5000 {
		p := bytes.Repeat([]byte{byte(i)}, 1+i%300)
		want.Write(p)
		if _, err := cc.Write(p); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if want.Len() <= maxPendingWrite {
		t.Fatalf("wrote only %d bytes; the test must exceed the pending bound", want.Len())
	}
	if err := cc.Close(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("peer read %d bytes, not the %d written in order", len(b), want.Len())
	}
	if _, err := cc.Write([]byte("x")); err == nil {
		t.Error("write after Close succeeded")
	}
}

// TestCoalescingConnPushesBack: with a peer that does not read, writes stop
// being accepted once maxPendingWrite bytes wait beside the ones being
// written (memory stays bounded), and continue when the peer reads.
func TestCoalescingConnPushesBack(t *testing.T) {
	a, b := net.Pipe() // synchronous: nothing is buffered in between
	defer a.Close()
	cc := newCoalescingConn(b)
	chunk := make([]byte, 16<<10)
	var mu sync.Mutex
	written := 0
	done := make(chan error, 1)
	go func() {
		for range 4 * maxPendingWrite / len(chunk) {
			if _, err := cc.Write(chunk); err != nil {
				done <- err
				return
			}
			mu.Lock()
			written += len(chunk)
			mu.Unlock()
		}
		done <- nil
	}()
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	stalled := written
	mu.Unlock()
	if limit := 2*maxPendingWrite + len(chunk); stalled > limit {
		t.Fatalf("%d bytes accepted with no reader; want at most %d", stalled, limit)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(a, int64(4*maxPendingWrite)))
	if err != nil || n != int64(4*maxPendingWrite) {
		t.Fatalf("read %d, %v", n, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestCoalescingConnReportsWriteErrors: once the socket fails, Write says
// so instead of swallowing bytes.
func TestCoalescingConnReportsWriteErrors(t *testing.T) {
	a, b := net.Pipe()
	cc := newCoalescingConn(b)
	a.Close()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = cc.Write([]byte("hello"))
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write to a closed peer: %v; want io.ErrClosedPipe", err)
	}
}
