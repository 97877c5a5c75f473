package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Ports are picked below the kernel's ephemeral range so that no outgoing
// connection (of the test or of a member) can be bound to a port that a
// killed member has to listen on again when it restarts.
const (
	minPort         = 10000
	defaultEphemLow = 32768
)

// freePorts returns n distinct ports on 127.0.0.1 that were free a moment
// ago. All are held open until every one is found, so they never repeat.
func freePorts(n int) ([]int, error) {
	hi := ephemeralLow()
	var (
		ports     []int
		listeners []net.Listener
	)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no %d free ports in [%d, %d) on 127.0.0.1", n, minPort, hi)
		}
		p := minPort + rand.IntN(hi-minPort)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		listeners = append(listeners, l)
		ports = append(ports, p)
	}
	return ports, nil
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
	if err != nil || lo <= minPort+100 {
		return defaultEphemLow
	}
	return lo
}
