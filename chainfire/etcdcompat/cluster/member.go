package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Member is one server process of a Cluster.
type Member struct {
	// Name is the member's --name (m0, m1, ...).
	Name string
	// DataDir is the member's --data-dir; it survives kills and restarts.
	DataDir string
	// ClientURL is the member's client URL (http://127.0.0.1:port).
	ClientURL string
	// PeerURL is the member's peer URL (http://127.0.0.1:port).
	PeerURL string
	// LogPath is the file collecting the member's stdout and stderr across
	// every start.
	LogPath string

	impl Impl
	bin  string
	args []string

	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	result error         // cmd.Wait's result, valid after done
}

// Endpoint returns the member's client address as host:port.
func (m *Member) Endpoint() string { return strings.TrimPrefix(m.ClientURL, "http://") }

// Running reports whether the member's process is alive.
func (m *Member) Running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// PID returns the process id of the running member, or 0.
func (m *Member) PID() int {
	if !m.Running() {
		return 0
	}
	return m.cmd.Process.Pid
}

// start launches the process (it does not wait for readiness).
func (m *Member) start() error {
	if m.Running() {
		return fmt.Errorf("member %s is already running", m.Name)
	}
	logf, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), m.bin, strings.Join(m.args, " "))
	cmd := exec.Command(m.bin, m.args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = os.Environ()
	// Own process group, and SIGKILL if the test process dies first, so no
	// member outlives the tests.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting member %s: %w", m.Name, err)
	}
	done := make(chan struct{})
	m.cmd, m.done = cmd, done
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logf, "=== %s: exited: %v\n", time.Now().Format(time.RFC3339Nano), exitText(err))
		logf.Close()
		m.result = err
		close(done)
	}()
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// signal sends sig to the member's process; it is a no-op when the member is
// not running.
func (m *Member) signal(sig syscall.Signal) error {
	if !m.Running() {
		return nil
	}
	if err := m.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling member %s: %w", m.Name, err)
	}
	return nil
}

// wait waits up to d for the process to exit.
func (m *Member) wait(d time.Duration) error {
	if m.cmd == nil {
		return nil
	}
	select {
	case <-m.done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("member %s (pid %d) did not exit within %v", m.Name, m.cmd.Process.Pid, d)
	}
}

// exited returns a description of the process's exit when it is not running.
func (m *Member) exited() (string, bool) {
	if m.cmd == nil {
		return "never started", true
	}
	select {
	case <-m.done:
		return exitText(m.result), true
	default:
		return "", false
	}
}

// waitReady polls the member's readiness endpoint until it answers healthy,
// the process exits or ctx ends.
func (m *Member) waitReady(ctx context.Context) error {
	hc := &http.Client{Timeout: time.Second}
	url := m.ClientURL + m.impl.readyPath()
	var last string
	for {
		if why, gone := m.exited(); gone {
			return fmt.Errorf("member %s exited before it was ready: %s", m.Name, why)
		}
		ok, detail := m.probe(ctx, hc, url)
		if ok {
			return nil
		}
		last = detail
		select {
		case <-ctx.Done():
			return fmt.Errorf("member %s not ready (GET %s: %s): %w", m.Name, url, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (m *Member) probe(ctx context.Context, hc *http.Client, url string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if m.impl == Etcd {
		// etcd's /health answers {"health":"true","reason":""}.
		var h struct {
			Health string `json:"health"`
		}
		if err := json.Unmarshal(body, &h); err != nil || h.Health != "true" {
			return false, "unhealthy: " + strings.TrimSpace(string(body))
		}
	}
	return true, ""
}
