package servertest

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Ports handed out by FreeAddr come from below the kernel's ephemeral
// range. A port that was only reserved (listen, close, use later) is free
// for anyone in between; inside the ephemeral range the kernel gives it to
// the next outgoing connection or port-0 listener of any process, this
// one included, which made servers fail with "address already in use".
// Below the range only another explicit chooser can take it, and within
// this process the pool never hands a port out twice.
const (
	minPort         = 15000 // above the well-known ports services run on
	defaultEphemLow = 32768 // Linux's default when /proc is unreadable
	minPoolSize     = 1000  // fewer candidates: fall back to port 0
)

// portPool is process-wide because ports are: two tests in one binary
// must never be given the same port.
type portPool struct {
	mu    sync.Mutex
	given map[int]struct{}
	lo    int // candidates are [lo, hi)
	hi    int
}

var pool = newPortPool(ephemeralLow())

func newPortPool(ephemLow int) *portPool {
	return &portPool{given: make(map[int]struct{}), lo: minPort, hi: ephemLow}
}

// take returns a loopback address that was free a moment ago and that no
// earlier call returned, or "" when none was found.
func (p *portPool) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hi-p.lo < minPoolSize {
		return ""
	}
	for range 200 {
		port := p.lo + rand.IntN(p.hi-p.lo)
		if _, dup := p.given[port]; dup {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // someone else's; try another
		}
		if err := ln.Close(); err != nil {
			continue
		}
		p.given[port] = struct{}{}
		return addr
	}
	return ""
}

// ephemeralLow returns the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemLow
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return defaultEphemLow
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return defaultEphemLow
	}
	return lo
}
