package raftnode

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is a TCP raft.StreamLayer that advertises a configured
// host:port, which may be a DNS name.
type streamLayer struct {
	net.Listener
	advertise advertiseAddr
}

func newStreamLayer(bind, advertise string) (*streamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raftnode: listen for peers on %s: %w", bind, err)
	}
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	return &streamLayer{Listener: ln, advertise: advertiseAddr(advertise)}, nil
}

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", string(address))
}

func (s *streamLayer) Addr() net.Addr { return s.advertise }

type advertiseAddr string

func (a advertiseAddr) Network() string { return "tcp" }
func (a advertiseAddr) String() string  { return string(a) }
