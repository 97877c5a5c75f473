package servertest

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddrOutsideEphemeralRange: addresses never repeat within the
// process, are bindable, and lie below the ephemeral range, where no
// outgoing connection or port-0 listener can take them meanwhile.
func TestFreeAddrOutsideEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	seen := map[string]bool{}
	for range 200 {
		addr := FreeAddr(t)
		if seen[addr] {
			t.Fatalf("FreeAddr returned %s twice", addr)
		}
		seen[addr] = true
		_, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(portStr)
		if low-minPort >= minPoolSize && (port < minPort || port >= low) {
			t.Fatalf("FreeAddr returned port %d, want one in [%d, %d)", port, minPort, low)
		}
	}
	// A port-0 listener never lands on an address handed out.
	for range 200 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if seen[ln.Addr().String()] {
			t.Fatalf("a port-0 listener got %s, which FreeAddr handed out", ln.Addr())
		}
		ln.Close()
	}
}

// TestPortPoolTooSmallFallsBack: with no usable range below the ephemeral
// one, take reports nothing and FreeAddr uses port 0.
func TestPortPoolTooSmallFallsBack(t *testing.T) {
	if got := newPortPool(minPort + 10).take(); got != "" {
		t.Fatalf("take from a tiny pool = %q, want none", got)
	}
}
