package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/photoncloud/core/pkg/raftlease"
	"github.com/photoncloud/core/pkg/raftlease/raftleasetest"
	"github.com/photoncloud/core/pkg/servertest"
)

// memFSM is a minimal StateMachine: commands "key=value" set a key.
type memFSM struct {
	mu      sync.Mutex
	applied uint64
	kv      map[string]string
	changed chan struct{} // closed and replaced on every batch
}

func newMemFSM() *memFSM { return &memFSM{kv: map[string]string{}, changed: make(chan struct{})} }

func (f *memFSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

func (f *memFSM) ApplyBatch(logs []*raft.Log) []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]any, len(logs))
	for _, l := range logs {
		if k, v, ok := strings.Cut(string(l.Data), "="); ok && l.Type == raft.LogCommand {
			f.kv[k] = v
		}
		f.applied = l.Index
	}
	close(f.changed)
	f.changed = make(chan struct{})
	return out
}

func (f *memFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("memFSM: no snapshots") }

func (f *memFSM) Restore(io.ReadCloser) error { return errors.New("memFSM: no snapshots") }

func (f *memFSM) AppliedIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

func (f *memFSM) WaitApplied(ctx context.Context, index uint64) error {
	for {
		f.mu.Lock()
		applied, changed := f.applied, f.changed
		f.mu.Unlock()
		if applied >= index {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *memFSM) get(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kv[key]
}

// cutNet decides which peer connections may exist: every node dials
// through it, and a connection between two nodes whose link is cut is
// refused or closed. Each direction is dialed by its sender, so cutting
// the dials both ways partitions a pair.
type cutNet struct {
	mu    sync.Mutex
	cut   map[[2]raft.ServerAddress]bool
	conns map[[2]raft.ServerAddress]map[net.Conn]struct{}
}

func newCutNet() *cutNet {
	return &cutNet{cut: map[[2]raft.ServerAddress]bool{}, conns: map[[2]raft.ServerAddress]map[net.Conn]struct{}{}}
}

func pair(a, b raft.ServerAddress) [2]raft.ServerAddress {
	if a > b {
		a, b = b, a
	}
	return [2]raft.ServerAddress{a, b}
}

// setCut cuts or heals the link between a and b.
func (n *cutNet) setCut(a, b raft.ServerAddress, cut bool) {
	n.mu.Lock()
	k := pair(a, b)
	n.cut[k] = cut
	var conns []net.Conn
	if cut {
		for c := range n.conns[k] {
			conns = append(conns, c)
		}
		delete(n.conns, k)
	}
	n.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (n *cutNet) wrap(self raft.ServerAddress) func(raft.StreamLayer) raft.StreamLayer {
	return func(inner raft.StreamLayer) raft.StreamLayer {
		return &cutLayer{StreamLayer: inner, net: n, self: self}
	}
}

type cutLayer struct {
	raft.StreamLayer
	net  *cutNet
	self raft.ServerAddress
}

var errCut = errors.New("cutnet: link cut")

func (l *cutLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	k := pair(l.self, addr)
	l.net.mu.Lock()
	cut := l.net.cut[k]
	l.net.mu.Unlock()
	if cut {
		return nil, errCut
	}
	c, err := l.StreamLayer.Dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	l.net.mu.Lock()
	defer l.net.mu.Unlock()
	if l.net.cut[k] {
		_ = c.Close()
		return nil, errCut
	}
	if l.net.conns[k] == nil {
		l.net.conns[k] = map[net.Conn]struct{}{}
	}
	l.net.conns[k][c] = struct{}{}
	return c, nil
}

// leaseCluster is an in-process cluster of nodes on loopback TCP.
type leaseCluster struct {
	t     *testing.T
	net   *cutNet
	peers []Peer
	cfg   Config
	nodes []*Node
	fsms  []*memFSM
	dirs  []string
}

const testElectionTimeout = 500 * time.Millisecond

func newLeaseCluster(t *testing.T, n int, disableLease bool) *leaseCluster {
	t.Helper()
	c := &leaseCluster{t: t, net: newCutNet(),
		cfg: Config{ElectionTimeout: testElectionTimeout, DisableLeaseRead: disableLease, RaftLogOutput: io.Discard, Bootstrap: true}}
	for i := range n {
		c.peers = append(c.peers, Peer{ID: raft.ServerID(fmt.Sprint(i)), Address: raft.ServerAddress(servertest.FreeAddr(t))})
		c.dirs = append(c.dirs, t.TempDir())
	}
	c.cfg.InitialPeers = c.peers
	c.nodes, c.fsms = make([]*Node, n), make([]*memFSM, n)
	for i := range n {
		c.start(i)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd != nil {
				_ = nd.Close()
			}
		}
	})
	return c
}

// start starts node i on its data directory and address.
func (c *leaseCluster) start(i int) {
	c.t.Helper()
	cfg := c.cfg
	cfg.ID, cfg.DataDir, cfg.PeerListen = c.peers[i].ID, c.dirs[i], string(c.peers[i].Address)
	cfg.WrapStream = c.net.wrap(c.peers[i].Address)
	fsm := newMemFSM()
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		// A restarted node takes its port back, which the kernel may
		// refuse for a moment.
		var nd *Node
		if nd, err = Start(cfg, fsm); err == nil {
			c.nodes[i], c.fsms[i] = nd, fsm
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	c.t.Fatalf("start node %d: %v", i, err)
}

// restart closes node i and starts it again on its files.
func (c *leaseCluster) restart(i int) *Node {
	c.t.Helper()
	if err := c.nodes[i].Close(); err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i] = nil
	c.start(i)
	return c.nodes[i]
}

// cut cuts (or heals) the link between nodes i and j.
func (c *leaseCluster) cut(i, j int, cut bool) {
	c.net.setCut(c.peers[i].Address, c.peers[j].Address, cut)
}

// isolate cuts (or heals) every link of node i.
func (c *leaseCluster) isolate(i int, cut bool) {
	for j := range c.nodes {
		if j != i {
			c.cut(i, j, cut)
		}
	}
}

// leader waits for a node other than the excluded ones that leads with
// reads ready.
func (c *leaseCluster) leader(exclude ...int) int {
	c.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
	next:
		for i, nd := range c.nodes {
			for _, x := range exclude {
				if x == i {
					continue next
				}
			}
			if nd != nil {
				if _, ready := nd.ReadyTerm(); ready {
					return i
				}
			}
		}
	}
	c.t.Fatal("no leader")
	return -1
}

func (c *leaseCluster) put(i int, key, value string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.nodes[i].Propose(ctx, []byte(key+"="+value)); err != nil {
		c.t.Fatalf("put %s on node %d: %v", key, i, err)
	}
}

// get is a linearizable read of key on leader i.
func (c *leaseCluster) get(ctx context.Context, i int, key string) (string, error) {
	if err := c.nodes[i].LinearizableBarrier(ctx); err != nil {
		return "", err
	}
	return c.fsms[i].get(key), nil
}

// The cluster and its nodes as raftleasetest sees them.

func (c *leaseCluster) Size() int { return len(c.nodes) }

func (c *leaseCluster) Replica(i int) raftleasetest.Replica { return replica{c.nodes[i]} }

func (c *leaseCluster) Cut(i, j int, cut bool) { c.cut(i, j, cut) }

func (c *leaseCluster) Restart(i int) raftleasetest.Replica { return replica{c.restart(i)} }

type replica struct{ *Node }

func (r replica) LeaseRead() bool { _, ok := r.leaseRead(); return ok }

func (r replica) LeaseExpiry() time.Time { _, exp := r.lease.Check(r.leaseReplica()); return exp }

func (r replica) Lease() *raftlease.Lease { return r.lease }

func (r replica) CloseStreams() { r.trans.CloseStreams() }

func (r replica) Hold() *raftlease.VoteHold { return r.hold }
