package member_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/etcdapi"
	"github.com/photoncloud/core/chainfire/internal/member"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	"github.com/photoncloud/core/pkg/server"
	"github.com/photoncloud/core/pkg/servertest"
	"github.com/photoncloud/core/pkg/telemetry"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// The harness runs real members in one process: each has its own data
// directory, Raft peer port and client port (pkg/server with the etcd API
// and MemberService mounted, so forwarding between members goes over HTTP
// as in production).
//
// The election timeout is etcd's default. hashicorp/raft steps a leader
// down when it has not heard from a quorum for half of it, so with shorter
// timeouts a loaded machine (the race detector, other test binaries, load
// averages of 10-20 on two cores) paused members long enough to cause
// spurious elections mid-test. Failover still takes only a few seconds,
// and test deadlines stay generous for the same reason.
const (
	testElectionTimeout = time.Second
	// waitTimeout bounds every "until the cluster gets there" poll.
	waitTimeout = 60 * time.Second
	// callTimeout bounds one client call that is expected to succeed
	// (with the retries of client_test.go): load averages of 30-40 with
	// the race detector made single calls take over 10 s.
	callTimeout = 30 * time.Second
	// startAttempts bounds how often a cluster is set up again on fresh
	// ports when a port it was given was taken before a member bound it.
	startAttempts = 5
)

type testCluster struct {
	t       *testing.T
	token   string
	initial []member.InitialMember
	members []*testMember
	http    *http.Client
}

type testMember struct {
	c          *testCluster
	name       string
	dir        string
	peerAddr   string
	clientAddr string
	net        *faultNet
	tweak      func(*member.Config)

	m     *member.Member // nil while stopped
	kv    etcdserverpbconnect.KVClient
	lease etcdserverpbconnect.LeaseClient
	stop  func() // stops the client server
}

// newCluster starts n members bootstrapping a new cluster; tweak, if not
// nil, adjusts every member's configuration.
func newCluster(t *testing.T, n int, tweak func(*member.Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, token: "test-" + t.Name(), http: servertest.HTTP2Client()}
	t.Cleanup(func() {
		for _, tm := range c.members {
			if tm.m != nil {
				tm.shutdown()
			}
		}
		c.http.CloseIdleConnections()
	})
	for attempt := 1; ; attempt++ {
		err := c.bootstrap(n, tweak)
		if err == nil {
			return c
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == startAttempts {
			t.Fatal(err)
		}
		// A peer port is part of the initial cluster every member was
		// bootstrapped with, so the whole cluster starts over, on fresh
		// ports and fresh data directories.
		t.Logf("cluster start, attempt %d: %v; starting over on new ports", attempt, err)
		for _, tm := range c.members {
			if tm.m != nil {
				tm.shutdown()
			}
		}
		c.members, c.initial = nil, nil
	}
}

// bootstrap creates n members on newly chosen ports and starts them.
func (c *testCluster) bootstrap(n int, tweak func(*member.Config)) error {
	dir := c.t.TempDir()
	for i := range n {
		tm := &testMember{
			c:        c,
			name:     fmt.Sprintf("m%d", i),
			dir:      filepath.Join(dir, fmt.Sprintf("m%d", i)),
			peerAddr: servertest.FreeAddr(c.t),
			net:      newFaultNet(),
			tweak:    tweak,
		}
		c.members = append(c.members, tm)
		c.initial = append(c.initial, member.InitialMember{Name: tm.name, PeerURLs: []string{"http://" + tm.peerAddr}})
	}
	// Members start concurrently, as a real cluster's processes do; each
	// Start only opens files and listens, so order does not matter.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, tm := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = tm.tryStart()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// start (re)starts a stopped member on its data directory and addresses.
func (tm *testMember) start() {
	tm.c.t.Helper()
	if err := tm.tryStart(); err != nil {
		tm.c.t.Fatal(err)
	}
}

func (tm *testMember) tryStart() error {
	ln, err := listenRetry(tm.clientAddr)
	if err != nil {
		return fmt.Errorf("%s: client listener: %w", tm.name, err)
	}
	tm.clientAddr = ln.Addr().String()
	cfg := member.Config{
		Name:                tm.name,
		DataDir:             tm.dir,
		ClientURLs:          []string{"http://" + tm.clientAddr},
		PeerURLs:            []string{"http://" + tm.peerAddr},
		PeerListen:          tm.peerAddr,
		InitialCluster:      tm.c.initial,
		InitialClusterState: "new",
		InitialClusterToken: tm.c.token,
		ElectionTimeout:     testElectionTimeout,
		Logger:              slog.New(slog.DiscardHandler),
		WrapPeerStream:      tm.net.wrap,
	}
	if tm.tweak != nil {
		tm.tweak(&cfg)
	}
	m, err := startMember(cfg)
	if err != nil {
		ln.Close()
		return fmt.Errorf("%s: start: %w", tm.name, err)
	}
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{
		ServiceName: "chainfire", LogOutput: io.Discard, Getenv: func(string) string { return "" },
	})
	if err != nil {
		ln.Close()
		return errors.Join(err, m.Close())
	}
	srv, err := server.New(server.Config{
		Service: "chainfire", NodeName: tm.name, Listener: ln, ShutdownTimeout: 2 * time.Second,
	}, tel)
	if err != nil {
		ln.Close()
		return errors.Join(err, m.Close())
	}
	srv.SetReadiness(m.Ready)
	etcdapi.Register(srv, m, etcdapi.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	tm.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tm.c.t.Errorf("%s: serve: %v", tm.name, err)
			}
		case <-time.After(15 * time.Second):
			tm.c.t.Errorf("%s: server did not stop", tm.name)
		}
		_ = tel.Shutdown(context.Background())
	}
	tm.m = m
	tm.kv = etcdserverpbconnect.NewKVClient(tm.c.http, "http://"+tm.clientAddr, connect.WithGRPC())
	tm.lease = etcdserverpbconnect.NewLeaseClient(tm.c.http, "http://"+tm.clientAddr, connect.WithGRPC())
	return nil
}

// startMember starts a member. A member restarting on its data directory
// must take its peer port back (the cluster knows it by that address); the
// kernel may refuse it for a moment, so binding is retried for a while. A
// new member's port is fresh, and a bind failure is returned at once for
// newCluster to pick other ports.
func startMember(cfg member.Config) (*member.Member, error) {
	restarting := false
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "member")); err == nil {
		restarting = true
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		m, err := member.Start(cfg)
		if err == nil || !restarting || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return m, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listenRetry listens on addr (a free port when empty). A restarted member
// takes its old port back, which the kernel may refuse for a moment.
func listenRetry(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shutdown stops the member gracefully: no new client calls, in-flight
// ones finish, then the member closes its Raft replica and store.
func (tm *testMember) shutdown() {
	tm.c.t.Helper()
	// The test client's idle HTTP/2 connection would hold the server's
	// graceful stop for its GOAWAY grace period (a second).
	tm.c.http.CloseIdleConnections()
	tm.stop()
	if err := tm.m.Close(); err != nil {
		tm.c.t.Errorf("%s: close: %v", tm.name, err)
	}
	tm.m = nil
}

// crash stops the member abruptly: the replica goes away first, without
// transferring leadership or waiting for clients, then the port closes.
func (tm *testMember) crash() {
	tm.c.t.Helper()
	if err := tm.m.Close(); err != nil {
		tm.c.t.Errorf("%s: close: %v", tm.name, err)
	}
	tm.c.http.CloseIdleConnections()
	tm.stop()
	tm.m = nil
}

func (c *testCluster) running() []*testMember {
	var out []*testMember
	for _, tm := range c.members {
		if tm.m != nil {
			out = append(out, tm)
		}
	}
	return out
}

func (c *testCluster) byID(id uint64) *testMember {
	for _, tm := range c.members {
		if tm.m != nil && tm.m.ID() == id {
			return tm
		}
	}
	return nil
}

// waitLeader waits until every member in among agrees on one leader, that
// leader is itself in among, and it serves linearizable reads (its term's
// first entry is applied).
func (c *testCluster) waitLeader(among ...*testMember) *testMember {
	c.t.Helper()
	if len(among) == 0 {
		among = c.running()
	}
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if l := agreedLeader(among); l != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := l.m.ReadBarrier(ctx)
			cancel()
			if err == nil && l.m.Node().IsLeader() {
				return l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no agreed leader among %v within %v", names(among), waitTimeout)
	return nil
}

func agreedLeader(among []*testMember) *testMember {
	var id uint64
	for _, tm := range among {
		got := tm.m.LeaderID()
		if got == 0 || (id != 0 && got != id) {
			return nil
		}
		id = got
	}
	for _, tm := range among {
		if tm.m.ID() == id && tm.m.Node().IsLeader() {
			return tm
		}
	}
	return nil
}

func names(ms []*testMember) []string {
	var out []string
	for _, tm := range ms {
		out = append(out, tm.name)
	}
	return out
}

// transferLeadership makes target the leader and waits until it serves.
func (c *testCluster) transferLeadership(target *testMember) {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		leader := c.waitLeader()
		if leader == target {
			return
		}
		id := raft.ServerID(strconv.FormatUint(target.m.ID(), 16))
		err := leader.m.Node().Raft().LeadershipTransferToServer(id, raft.ServerAddress(target.peerAddr)).Error()
		if err != nil {
			c.t.Logf("leadership transfer to %s: %v; retrying", target.name, err)
			time.Sleep(100 * time.Millisecond)
		}
	}
	c.t.Fatalf("leadership did not move to %s within %v", target.name, waitTimeout)
}

// others returns the running members except the given ones.
func (c *testCluster) others(except ...*testMember) []*testMember {
	var out []*testMember
	for _, tm := range c.running() {
		if !slices.Contains(except, tm) {
			out = append(out, tm)
		}
	}
	return out
}

// waitConverged waits until the given members (all running ones by
// default) have applied the same Raft index and reached the same revision,
// then checks their HashKV at that revision is identical. It returns the
// revision.
func (c *testCluster) waitConverged(ms ...*testMember) int64 {
	c.t.Helper()
	if len(ms) == 0 {
		ms = c.running()
	}
	deadline := time.Now().Add(waitTimeout)
	var state string
	for time.Now().Before(deadline) {
		rev, applied := ms[0].m.Store().Rev(), ms[0].m.AppliedIndex()
		same := true
		state = ""
		for _, tm := range ms {
			r, a := tm.m.Store().Rev(), tm.m.AppliedIndex()
			state += fmt.Sprintf(" %s:rev=%d,applied=%d", tm.name, r, a)
			same = same && r == rev && a == applied
		}
		if same {
			c.checkHashes(rev, ms...)
			return rev
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("members did not converge within %v:%s", waitTimeout, state)
	return 0
}

// checkHashes asserts the members' stores hash identically at rev.
func (c *testCluster) checkHashes(rev int64, ms ...*testMember) {
	c.t.Helper()
	var want mvcc.KVHash
	for i, tm := range ms {
		h, err := tm.m.Store().HashKV(rev)
		if err != nil {
			c.t.Fatalf("%s: HashKV(%d): %v", tm.name, rev, err)
		}
		if i == 0 {
			want = h
			continue
		}
		if h != want {
			c.t.Fatalf("%s: HashKV(%d) = %+v, %s has %+v", tm.name, rev, h, ms[0].name, want)
		}
	}
}

func (tm *testMember) put(ctx context.Context, key, value string) (*pb.PutResponse, error) {
	resp, err := tm.kv.Put(ctx, connect.NewRequest(&pb.PutRequest{Key: []byte(key), Value: []byte(value)}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// mustPut writes key through this member and fails the test on error. A
// leader change under the write is resolved as a client must (see
// putResolved).
func (tm *testMember) mustPut(key, value string) *pb.PutResponse {
	tm.c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := tm.putResolved(ctx, key, value)
	if err != nil {
		tm.c.t.Fatalf("put %s via %s: %v", key, tm.name, err)
	}
	return resp
}

func (tm *testMember) get(ctx context.Context, key string, serializable bool) (*pb.RangeResponse, error) {
	resp, err := tm.kv.Range(ctx, connect.NewRequest(&pb.RangeRequest{Key: []byte(key), Serializable: serializable}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// mustGet reads key through this member and fails the test on error. Like
// clientv3 with a read, it retries while the cluster is between leaders.
func (tm *testMember) mustGet(key string, serializable bool) *pb.RangeResponse {
	tm.c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := tm.getRetry(ctx, key, serializable)
	if err != nil {
		tm.c.t.Fatalf("get %s via %s (serializable=%v): %v", key, tm.name, serializable, err)
	}
	return resp
}

// valueOf returns the single value a point read found ("" and false when
// the key is absent).
func valueOf(r *pb.RangeResponse) (string, int64, bool) {
	if len(r.GetKvs()) == 0 {
		return "", 0, false
	}
	return string(r.GetKvs()[0].GetValue()), r.GetKvs()[0].GetModRevision(), true
}

// attrsEqual compares two published member tables.
func attrsEqual(a, b []*chainfirev1.MemberAttributes) bool {
	return slices.EqualFunc(a, b, func(x, y *chainfirev1.MemberAttributes) bool { return proto.Equal(x, y) })
}

// faultNet cuts one member's Raft traffic on demand. While isolated it
// refuses to dial, drops every connection it accepts, and has closed every
// connection it held, in both directions, so the member neither sends nor
// receives any Raft message: a full network partition of that member.
type faultNet struct {
	mu       sync.Mutex
	isolated bool
	conns    map[*faultConn]struct{}
}

func newFaultNet() *faultNet { return &faultNet{conns: make(map[*faultConn]struct{})} }

var errPartitioned = errors.New("faultnet: partitioned")

func (f *faultNet) wrap(inner raft.StreamLayer) raft.StreamLayer {
	return &faultLayer{StreamLayer: inner, f: f}
}

// isolate partitions the member from every peer.
func (f *faultNet) isolate() {
	f.mu.Lock()
	f.isolated = true
	conns := make([]*faultConn, 0, len(f.conns))
	for c := range f.conns {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// heal ends the partition; Raft reconnects by itself.
func (f *faultNet) heal() {
	f.mu.Lock()
	f.isolated = false
	f.mu.Unlock()
}

// track registers c, or reports false when the member is isolated.
func (f *faultNet) track(c net.Conn) (net.Conn, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.isolated {
		return nil, false
	}
	fc := &faultConn{Conn: c, f: f}
	f.conns[fc] = struct{}{}
	return fc, true
}

type faultLayer struct {
	raft.StreamLayer
	f *faultNet
}

func (l *faultLayer) Accept() (net.Conn, error) {
	for {
		c, err := l.StreamLayer.Accept()
		if err != nil {
			return nil, err
		}
		if fc, ok := l.f.track(c); ok {
			return fc, nil
		}
		_ = c.Close()
	}
}

func (l *faultLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	l.f.mu.Lock()
	isolated := l.f.isolated
	l.f.mu.Unlock()
	if isolated {
		return nil, errPartitioned
	}
	c, err := l.StreamLayer.Dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	if fc, ok := l.f.track(c); ok {
		return fc, nil
	}
	_ = c.Close()
	return nil, errPartitioned
}

type faultConn struct {
	net.Conn
	f    *faultNet
	once sync.Once
}

func (c *faultConn) Close() error {
	var err error
	c.once.Do(func() {
		c.f.mu.Lock()
		delete(c.f.conns, c)
		c.f.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}
