package store

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/photoncloud/core/flaredb/internal/region"
	"github.com/photoncloud/core/pkg/raftlease"
	"github.com/photoncloud/core/pkg/raftlease/raftleasetest"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// link is a TCP proxy carrying one store's Raft traffic to another. Each
// store dials every other store through its own link, so cutting the
// links of a store partitions it from the rest in both directions.
type link struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
}

func newLink(t testing.TB, target string) *link {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = ln.Close(); l.setCut(true) })
	go l.accept()
	return l
}

func (l *link) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.serve(c)
	}
}

func (l *link) serve(c net.Conn) {
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		_ = c.Close()
		return
	}
	if !l.track(c, up) {
		return
	}
	go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
	_, _ = io.Copy(c, up)
	_ = c.Close()
}

func (l *link) track(cs ...net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		l.conns[c] = struct{}{}
	}
	return true
}

func (l *link) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			_ = c.Close()
		}
		clear(l.conns)
	}
}

// testCluster is n stores hosting region 1 (the whole key space), with
// every store-to-store Raft connection going through a link.
type testCluster struct {
	t      testing.TB
	stores []*Store
	links  map[[2]int]*link // [from, to] store index
	meta   *flaredbv1.Region
}

func newTestCluster(t testing.TB, n int, cfg Config) *testCluster {
	c := &testCluster{t: t, links: map[[2]int]*link{},
		meta: &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1}}}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = 500 * time.Millisecond
	}
	cfg.RaftLogOutput = io.Discard
	for i := range n {
		cfg.StoreID, cfg.DataDir, cfg.RaftAddr = uint64(i+1), t.TempDir(), "127.0.0.1:0"
		st, err := Open(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		c.stores = append(c.stores, st)
		c.meta.Peers = append(c.meta.Peers, &flaredbv1.Peer{Id: uint64(101 + i), StoreId: uint64(i + 1)})
	}
	for i, from := range c.stores {
		for j, to := range c.stores {
			if i != j {
				l := newLink(t, to.RaftAddr())
				c.links[[2]int{i, j}] = l
				from.learnAddr(to.ID(), l.ln.Addr().String())
			}
		}
	}
	for _, st := range c.stores {
		if err := st.Bootstrap(context.Background(), c.meta); err != nil {
			t.Fatal(err)
		}
		st.Run()
	}
	return c
}

// partition cuts (or heals) every link to and from store i.
func (c *testCluster) partition(i int, cut bool) {
	for k, l := range c.links {
		if k[0] == i || k[1] == i {
			l.setCut(cut)
		}
	}
}

// leader waits for a store leading region 1 whose reads are ready,
// other than the excluded indexes.
func (c *testCluster) leader(exclude ...int) int {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
	next:
		for i, st := range c.stores {
			for _, x := range exclude {
				if x == i {
					continue next
				}
			}
			p := st.Peer(1)
			if p != nil && p.IsLeader() && p.readyTerm.Load() == p.raft.CurrentTerm() {
				return i
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return -1
}

func (c *testCluster) rc() *flaredbv1.Context {
	return &flaredbv1.Context{RegionId: 1, RegionEpoch: c.meta.GetEpoch()}
}

func (c *testCluster) put(ctx context.Context, i int, key, val string) error {
	rc := c.rc()
	cmd := region.PutCommand(&flaredbv1.PutRequest{Context: rc, Key: []byte(key), Value: []byte(val)})
	_, err := c.stores[i].Propose(ctx, rc, cmd, []byte(key))
	return err
}

// get is a linearizable read through store i.
func (c *testCluster) get(ctx context.Context, i int, key string) (string, error) {
	rc := c.rc()
	rep, err := c.stores[i].ReadReplica(ctx, rc, []byte(key))
	if err != nil {
		return "", err
	}
	v, _, err := rep.Get(ctx, rc, []byte(key))
	return string(v), err
}

// The cluster and its region 1 replicas as raftleasetest sees them.

func (c *testCluster) Size() int { return len(c.stores) }

func (c *testCluster) Replica(i int) raftleasetest.Replica { return replica{c.stores[i].Peer(1)} }

func (c *testCluster) Cut(i, j int, cut bool) { c.cut(i, j, cut) }

func (c *testCluster) Restart(i int) raftleasetest.Replica { return replica{c.restartStore(i).Peer(1)} }

type replica struct{ *Peer }

func (r replica) Raft() *raft.Raft { return r.raft }

func (r replica) LeaseRead() bool { _, ok := r.leaseRead(); return ok }

func (r replica) LeaseExpiry() time.Time { _, exp := r.leaseExpiry(); return exp }

func (r replica) Lease() *raftlease.Lease { return r.lease }

func (r replica) CloseStreams() { r.trans.CloseStreams() }

func (r replica) Hold() *raftlease.VoteHold { return r.hold }
