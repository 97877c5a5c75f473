// Package pdtest starts the real services PD depends on for tests: a
// Chainfire member as a subprocess (FlareDB may not import Chainfire's
// internal packages, and a real member is the honest backend), built once
// per test binary from this repository.
package pdtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	sharedMu sync.Mutex
	shared   []*Chainfire

	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// Main runs a test package's tests and removes the built binaries. Use it
// as: func TestMain(m *testing.M) { os.Exit(pdtest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	for _, c := range shared {
		c.kill()
		_ = os.RemoveAll(c.dataDir)
	}
	sharedMu.Unlock()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	return code
}

// Chainfire is a single-member Chainfire process.
type Chainfire struct {
	// Endpoint is the member's client address (host:port).
	Endpoint string
	dataDir  string
	cmd      *exec.Cmd
	done     chan struct{}
	log      syncBuffer
}

// syncBuffer collects a process's output; the process writes it from
// exec's copying goroutines while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StartChainfire builds (once) and starts a one-member Chainfire with its
// data in a test temp dir, waits until it is ready, and kills it when the
// test ends. $CHAINFIRE_BIN overrides the build.
func StartChainfire(t testing.TB) *Chainfire {
	t.Helper()
	c := start(t, filepath.Join(t.TempDir(), "cf"))
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("pdtest: chainfire log:\n%s", c.Log())
		}
	})
	c.waitReady(t)
	return c
}

// StartChainfireShared is StartChainfire for a member shared by every test
// of the package: it lives until Main returns.
func StartChainfireShared(t testing.TB) *Chainfire {
	t.Helper()
	dir, err := os.MkdirTemp("", "pdtest-cf-")
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, dir)
	sharedMu.Lock()
	shared = append(shared, c)
	sharedMu.Unlock()
	c.waitReady(t)
	return c
}

func start(t testing.TB, dataDir string) *Chainfire {
	t.Helper()
	bin := chainfireBinary(t)
	client, peer := freePort(t), freePort(t)
	c := &Chainfire{Endpoint: client, dataDir: dataDir, done: make(chan struct{})}
	c.cmd = exec.Command(bin,
		"--name=cf",
		"--data-dir="+dataDir,
		"--listen-client-urls=http://"+client,
		"--advertise-client-urls=http://"+client,
		"--listen-peer-urls=http://"+peer,
		"--initial-advertise-peer-urls=http://"+peer,
		"--initial-cluster=cf=http://"+peer,
		"--election-timeout=300",
		"--log-level=warn",
	)
	c.cmd.Stdout, c.cmd.Stderr = &c.log, &c.log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("pdtest: start chainfire: %v", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	return c
}

// Log returns what the member printed so far.
func (c *Chainfire) Log() string { return c.log.String() }

func (c *Chainfire) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

func (c *Chainfire) waitReady(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		select {
		case <-c.done:
			t.Fatalf("pdtest: chainfire exited before it was ready:\n%s", c.Log())
		case <-ctx.Done():
			c.kill()
			t.Fatalf("pdtest: chainfire not ready after 60s:\n%s", c.Log())
		case <-time.After(50 * time.Millisecond):
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Endpoint+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
	}
}

func chainfireBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHAINFIRE_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			buildErr = err
			return
		}
		if buildDir, err = os.MkdirTemp("", "pdtest-bin-"); err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(buildDir, "chainfire")
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", buildPath, "./chainfire/cmd/chainfire")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build chainfire: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("pdtest: %v", buildErr)
	}
	return buildPath
}

// repoRoot finds the directory holding go.work above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "chainfire", "cmd", "chainfire")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no repository root (go.work with chainfire/cmd/chainfire) above the working directory")
		}
		dir = parent
	}
}

// freePort returns a 127.0.0.1 host:port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pdtest: reserve a port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
