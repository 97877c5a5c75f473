package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Config describes a cluster to start.
type Config struct {
	// Impl is the implementation to start; empty means $COMPAT_IMPL.
	Impl Impl
	// Members is the number of members; 0 means 3.
	Members int
	// ExtraFlags are appended to every member's command line.
	ExtraFlags []string
	// LogLevel is passed as --log-level; empty means $COMPAT_LOG_LEVEL or
	// "info".
	LogLevel string
	// BeforeStart, when set, runs for each member before its first start,
	// with the --initial-cluster and --initial-cluster-token it will get:
	// a seam to prepare its data directory (a snapshot restore).
	BeforeStart func(m *Member, initialCluster, token string) error
	// StartTimeout bounds the wait for every member to become ready, on the
	// first start and on every restart; 0 means 30 seconds.
	StartTimeout time.Duration
}

// Cluster is a running set of members.
type Cluster struct {
	t       testing.TB
	impl    Impl
	members []*Member
	timeout time.Duration

	// What a member joining later needs (see grow.go).
	bin, dir, logDir, token, level string
	extraFlags                     []string
}

// stopTimeout bounds how long a member may take to exit after SIGTERM before
// it gets SIGKILL, and after SIGKILL before the harness gives up.
const stopTimeout = 15 * time.Second

// logTailLines is how many lines of each member's log a failing test prints.
const logTailLines = 40

// Start starts cfg.Members members with fresh data directories, waits until
// every one is ready, and registers their teardown (and, if the test fails,
// the printing of each member's log tail) with t.Cleanup.
func Start(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	impl := cfg.Impl
	if impl == "" {
		var err error
		if impl, err = ImplFromEnv(); err != nil {
			t.Fatalf("cluster: %v", err)
		}
	}
	n := cfg.Members
	if n <= 0 {
		n = 3
	}
	level := cfg.LogLevel
	if level == "" {
		level = os.Getenv("COMPAT_LOG_LEVEL")
	}
	if level == "" {
		level = "info"
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}

	bin := ServerBinary(t, impl)
	dir := t.TempDir()
	logDir := dir
	if d := os.Getenv("COMPAT_LOG_DIR"); d != "" {
		logDir = filepath.Join(d, safeName(t.Name())+"-"+time.Now().Format("150405.000"))
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			t.Fatalf("cluster: %v", err)
		}
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}

	c := &Cluster{t: t, impl: impl, timeout: timeout, bin: bin, dir: dir, logDir: logDir, level: level, extraFlags: cfg.ExtraFlags}
	var initial []string
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			impl:      impl,
			bin:       bin,
		}
		m.DataDir = filepath.Join(dir, m.Name+".data")
		m.LogPath = filepath.Join(logDir, m.Name+".log")
		c.members = append(c.members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	token := "compat-" + randomHex(6)
	c.token = token
	for _, m := range c.members {
		// The flag set both etcd and Chainfire understand. A restart reuses
		// it unchanged: with an existing data directory both ignore the
		// initial-cluster flags.
		m.args = append([]string{
			"--name=" + m.Name,
			"--data-dir=" + m.DataDir,
			"--listen-client-urls=" + m.ClientURL,
			"--advertise-client-urls=" + m.ClientURL,
			"--listen-peer-urls=" + m.PeerURL,
			"--initial-advertise-peer-urls=" + m.PeerURL,
			"--initial-cluster=" + strings.Join(initial, ","),
			"--initial-cluster-state=new",
			"--initial-cluster-token=" + token,
			"--log-level=" + level,
		}, cfg.ExtraFlags...)
	}

	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		c.killAll()
	})
	start := time.Now()
	for _, m := range c.members {
		if cfg.BeforeStart != nil {
			if err := cfg.BeforeStart(m, strings.Join(initial, ","), token); err != nil {
				t.Fatalf("cluster: before starting %s: %v", m.Name, err)
			}
		}
		if err := m.start(); err != nil {
			t.Fatalf("cluster: %v", err)
		}
	}
	c.waitReady(t, c.members...)
	t.Logf("cluster: %d-member %s cluster ready in %v: %s", n, impl, time.Since(start).Round(time.Millisecond), strings.Join(c.Endpoints(), ","))
	return c
}

// Impl returns the implementation the cluster runs.
func (c *Cluster) Impl() Impl { return c.impl }

// Members returns the members in the order of their names (m0, m1, ...).
func (c *Cluster) Members() []*Member { return c.members }

// Member returns member i.
func (c *Cluster) Member(i int) *Member { return c.members[i] }

// Endpoints returns every member's client address (host:port), in member
// order, as clientv3.Config.Endpoints and etcdctl --endpoints take them.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.Endpoint()
	}
	return eps
}

// WaitReady waits until every running member is ready (at most the
// configured start timeout).
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	var running []*Member
	for _, m := range c.members {
		if m.Running() {
			running = append(running, m)
		}
	}
	c.waitReady(t, running...)
}

// waitReady waits until each of ms is ready, failing if one exits first.
func (c *Cluster) waitReady(t testing.TB, ms ...*Member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.waitReady(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("cluster: %s", strings.Join(errs, "; "))
	}
}

// Kill sends SIGKILL to member i and waits for it to exit.
func (c *Cluster) Kill(t testing.TB, i int) {
	t.Helper()
	c.stop(t, syscall.SIGKILL, c.members[i])
}

// Stop sends SIGTERM to member i and waits for it to exit, killing it if it
// takes longer than 15 seconds.
func (c *Cluster) Stop(t testing.TB, i int) {
	t.Helper()
	c.stop(t, syscall.SIGTERM, c.members[i])
}

// KillAll sends SIGKILL to every running member at once (all signals are
// sent before any exit is awaited), then waits for them all to exit.
func (c *Cluster) KillAll(t testing.TB) {
	t.Helper()
	c.stop(t, syscall.SIGKILL, c.members...)
}

// StopAll sends SIGTERM to every running member at once and waits for them.
func (c *Cluster) StopAll(t testing.TB) {
	t.Helper()
	c.stop(t, syscall.SIGTERM, c.members...)
}

// Restart starts the stopped member i again with the same flags and data
// directory, and waits until it is ready.
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	c.restart(t, c.members[i])
}

// RestartAll starts every stopped member again (all at once, since a lone
// member of a majority-down cluster can never become ready) and waits until
// each of them is ready.
func (c *Cluster) RestartAll(t testing.TB) {
	t.Helper()
	c.restart(t, c.members...)
}

func (c *Cluster) restart(t testing.TB, ms ...*Member) {
	t.Helper()
	var started []*Member
	for _, m := range ms {
		if m.Running() {
			continue
		}
		if err := m.start(); err != nil {
			t.Fatalf("cluster: %v", err)
		}
		started = append(started, m)
	}
	c.waitReady(t, started...)
}

func (c *Cluster) stop(t testing.TB, sig syscall.Signal, ms ...*Member) {
	t.Helper()
	for _, m := range ms {
		if err := m.signal(sig); err != nil {
			t.Fatalf("cluster: %v", err)
		}
	}
	for _, m := range ms {
		if err := m.wait(stopTimeout); err != nil {
			if sig == syscall.SIGKILL {
				t.Fatalf("cluster: %v", err)
			}
			_ = m.signal(syscall.SIGKILL)
			if err := m.wait(stopTimeout); err != nil {
				t.Fatalf("cluster: %v", err)
			}
		}
	}
}

// killAll is the teardown: it never fails the test.
func (c *Cluster) killAll() {
	for _, m := range c.members {
		_ = m.signal(syscall.SIGKILL)
	}
	for _, m := range c.members {
		if err := m.wait(stopTimeout); err != nil {
			c.t.Logf("cluster: teardown: %v", err)
		}
	}
}

// LogTail returns the last n lines of member i's log.
func (c *Cluster) LogTail(i, n int) string {
	b, err := os.ReadFile(c.members[i].LogPath)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func (c *Cluster) dumpLogs() {
	for i, m := range c.members {
		c.t.Logf("cluster: ---- last %d lines of %s %s (%s, client %s) ----\n%s",
			logTailLines, c.impl, m.Name, m.LogPath, m.ClientURL, c.LogTail(i, logTailLines))
	}
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func safeName(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
