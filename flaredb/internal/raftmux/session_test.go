package raftmux

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func dial(t *testing.T, from *Layer, to *Mux) net.Conn {
	t.Helper()
	c, err := from.Dial(raft.ServerAddress(to.Addr()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func accept(t *testing.T, l *Layer) net.Conn {
	t.Helper()
	got := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		got <- c
	}()
	select {
	case c := <-got:
		if c == nil {
			t.Fatal("accept failed")
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no stream accepted")
	}
	return nil
}

// echo serves every stream l accepts by writing back what it reads.
func echo(l *Layer) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// Many regions, many concurrent streams each: every byte comes back in
// order over one connection per direction, and concurrent frames share
// write syscalls.
func TestRegionsShareOneSessionAndCoalesce(t *testing.T) {
	a, b := listen(t), listen(t)
	const regions, perRegion = 16, 4
	var wg sync.WaitGroup
	errs := make(chan error, regions*perRegion)
	for r := uint64(1); r <= regions; r++ {
		go echo(layer(t, b, r))
		from := layer(t, a, r)
		for i := range perRegion {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- exchange(from, b.Addr(), 40, i*100_000+1)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Sessions != 1 || sb.Sessions != 1 {
		t.Fatalf("sessions: dialled %d, accepted %d; want one each", sa.Sessions, sb.Sessions)
	}
	if sa.Writes >= sa.Frames || sb.Writes >= sb.Frames {
		t.Fatalf("no coalescing: a sent %d frames in %d writes, b %d in %d", sa.Frames, sa.Writes, sb.Frames, sb.Writes)
	}
	t.Logf("a: %d frames in %d writes; b: %d frames in %d writes", sa.Frames, sa.Writes, sb.Frames, sb.Writes)
}

// exchange sends rounds messages (one of them larger than a frame) on a
// new stream and checks each echo.
func exchange(from *Layer, to string, rounds, size int) error {
	c, err := from.Dial(raft.ServerAddress(to), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for i := range rounds {
		n := 1 + (size*(i+1))%4096
		if i == rounds/2 {
			n = maxFramePayload*2 + 17
		}
		msg := make([]byte, n)
		_, _ = rand.Read(msg)
		go func() { _, _ = c.Write(msg) }()
		got := make([]byte, n)
		if _, err := io.ReadFull(r, got); err != nil {
			return fmt.Errorf("region %d round %d: %w", from.region, i, err)
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("region %d round %d: echo differs", from.region, i)
		}
	}
	return nil
}

// A stream whose reader stalls uses up its window and then blocks, while
// other streams of the same session carry on; once read, it completes.
func TestFlowControlIsolatesAStalledStream(t *testing.T) {
	a, b := listen(t), listen(t)
	a1, b1 := layer(t, a, 1), layer(t, b, 1)
	a2, b2 := layer(t, a, 2), layer(t, b, 2)
	slow := dial(t, a1, b)
	big := make([]byte, 3*streamWindow)
	_, _ = rand.Read(big)
	_ = slow.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	n, err := slow.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n != streamWindow {
		t.Fatalf("write past the window: %d bytes, %v; want %d and a deadline error", n, err, streamWindow)
	}
	roundTrip(t, a2, b2, "other regions still flow")

	_ = slow.SetWriteDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, err := slow.Write(big[n:]); done <- err }()
	s := accept(t, b1)
	got := make([]byte, len(big))
	if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("stalled stream read back: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("rest of the write: %v", err)
	}
}

func TestReadDeadlineAndCloseSemantics(t *testing.T) {
	a, b := listen(t), listen(t)
	a1, b1 := layer(t, a, 1), layer(t, b, 1)
	c := dial(t, a1, b)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past deadline: %v", err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	s := accept(t, b1)
	_ = s.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want EOF", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Write([]byte("y")); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("write to a closed stream kept succeeding")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = c.Close()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

// When the peer store goes away every stream fails, and the next Dial
// reaches its replacement on a new session.
func TestSessionFailureFailsStreamsAndRedials(t *testing.T) {
	a, b := listen(t), listen(t)
	a1 := layer(t, a, 1)
	go echo(layer(t, b, 1))
	c := dial(t, a1, b)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	_ = b.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1)
	_, _ = c.Read(buf) // the echo, if it came back before the close
	if _, err := c.Read(buf); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stream outlived its session: %v", err)
	}
	b2, err := Listen(addr, "", nil)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer b2.Close()
	go echo(layer(t, b2, 1))
	if err := exchange(a1, addr, 3, 10); err != nil {
		t.Fatalf("after the peer restarted: %v", err)
	}
	if s := a.Stats().Sessions; s != 2 {
		t.Fatalf("dialled %d sessions, want 2", s)
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(appendFrame(nil, frameData, 1, []byte("abc")))
	f.Add(appendFrame(nil, frameOpen, 2, make([]byte, 8)))
	f.Add(appendFrame(nil, frameWindow, 2, []byte{0, 0, 1, 0}))
	f.Add(appendFrame(nil, frameClose, 2, nil))
	f.Add([]byte{2, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := readFrame(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		if checkFrame(fr.typ, uint32(len(fr.payload))) != nil {
			t.Fatalf("accepted invalid frame %+v", fr)
		}
	})
}
