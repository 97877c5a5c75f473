package raftmux

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func listen(t *testing.T) *Mux {
	t.Helper()
	m, err := Listen("127.0.0.1:0", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func layer(t *testing.T, m *Mux, region uint64) *Layer {
	t.Helper()
	l, err := m.Layer(region)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// roundTrip dials region through from and returns what to's layer accepted.
func roundTrip(t *testing.T, from *Layer, to *Layer, msg string) {
	t.Helper()
	c, err := from.Dial(raft.ServerAddress(to.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		s, err := to.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer s.Close()
		buf := make([]byte, len(msg))
		_, _ = io.ReadFull(s, buf)
		got <- string(buf)
	}()
	select {
	case g := <-got:
		if g != msg {
			t.Fatalf("region %d got %q, want %q", to.region, g, msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
	}
}

func TestConnectionsReachTheirRegion(t *testing.T) {
	a, b := listen(t), listen(t)
	a1, a2 := layer(t, a, 1), layer(t, a, 2)
	b1, b2 := layer(t, b, 1), layer(t, b, 2)
	roundTrip(t, a1, b1, "for region one")
	roundTrip(t, a2, b2, "for region two")
	roundTrip(t, b2, a2, "back to two")
	if a1.Addr().String() != a.Addr() {
		t.Fatalf("layer addr %s, mux addr %s", a1.Addr(), a.Addr())
	}
}

func TestUnknownRegionAndGarbageAreClosed(t *testing.T) {
	a, b := listen(t), listen(t)
	a9 := layer(t, a, 9)
	c, err := a9.Dial(raft.ServerAddress(b.Addr()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection for an unhosted region stayed open")
	}
	c.Close()

	raw, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = raw.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := raw.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection with a bad header stayed open")
	}
	raw.Close()
}

func TestClosedLayerStopsAcceptAndIsReplaceable(t *testing.T) {
	a, b := listen(t), listen(t)
	b1 := layer(t, b, 1)
	_ = b1.Close()
	if _, err := b1.Accept(); err != ErrClosed {
		t.Fatalf("accept on closed layer: %v", err)
	}
	b1again := layer(t, b, 1)
	roundTrip(t, layer(t, a, 1), b1again, "after restart")
}

func TestOldSingleStreamHeaderStillAccepted(t *testing.T) {
	b := listen(t)
	b4 := layer(t, b, 4)
	raw, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write(append(header(headerMagic, 4), "hello"...)); err != nil {
		t.Fatal(err)
	}
	c, err := b4.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q %v", buf, err)
	}
}

func FuzzReadHeader(f *testing.F) {
	f.Add(header(headerMagic, 1))
	f.Add(header(sessionMagic, 0))
	f.Add(header(sessionMagic, 3))
	f.Add([]byte("garbage-bytes"))
	f.Add(make([]byte, headerLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		magic, id, err := readHeader(bytes.NewReader(b))
		if err != nil {
			return
		}
		switch {
		case len(b) < headerLen:
			t.Fatalf("accepted a short header %x", b)
		case magic == headerMagic && id == 0:
			t.Fatalf("accepted %x as region 0", b)
		case magic == sessionMagic && id != 0:
			t.Fatalf("accepted session header %x with region %d", b, id)
		case magic != headerMagic && magic != sessionMagic:
			t.Fatalf("accepted magic %x", magic)
		}
	})
}
