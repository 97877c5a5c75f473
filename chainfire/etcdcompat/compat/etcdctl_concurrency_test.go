package compat

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// background starts etcdctl with args and returns its live stdout.
func (e etcdctl) background(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	full := append([]string{"--endpoints=" + strings.Join(e.eps, ","), "--dial-timeout=5s"}, args...)
	cmd := exec.Command(e.bin, full...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, out
}

func waitOutput(t *testing.T, out *syncBuffer, want string, within time.Duration) {
	t.Helper()
	end := time.Now().Add(within)
	for time.Now().Before(end) {
		if strings.Contains(out.String(), want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("output %q never contained %q", out.String(), want)
}

// TestEtcdctlLockElect runs `etcdctl lock` and `etcdctl elect` against
// holders taken through clientv3/concurrency.
func TestEtcdctlLockElect(t *testing.T) {
	ctx := deadline(t, 120*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	ctl := etcdctl{bin: cluster.EtcdctlBinary(t), eps: c.Endpoints()}

	t.Run("Lock", func(t *testing.T) {
		if out := ctl.ok(t, ctx, "", "lock", "ctl-lock", "echo", "inside"); !strings.Contains(out, "inside") {
			t.Fatalf("etcdctl lock ran no command: %q", out)
		}
		s := must[*concurrency.Session](t, "session")(concurrency.NewSession(cli))
		mu := concurrency.NewMutex(s, "ctl-lock")
		if err := mu.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		cmd, out := ctl.background(t, "lock", "ctl-lock", "echo", "got-it")
		time.Sleep(time.Second)
		if strings.Contains(out.String(), "got-it") {
			t.Fatal("etcdctl lock ran its command while clientv3 held the lock")
		}
		if err := mu.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		waitOutput(t, out, "got-it", 20*time.Second)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("etcdctl lock exited with %v: %s", err, out.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("etcdctl lock did not exit after its command")
		}
	})

	t.Run("Elect", func(t *testing.T) {
		_, heard := ctl.background(t, "elect", "--listen", "ctl-elect")
		campaigner, campaign := ctl.background(t, "elect", "ctl-elect", "proposal-1")
		waitOutput(t, campaign, "proposal-1", 20*time.Second)
		waitOutput(t, heard, "proposal-1", 20*time.Second)
		s := must[*concurrency.Session](t, "session")(concurrency.NewSession(cli))
		e := concurrency.NewElection(s, "ctl-elect")
		if l := must[*clientv3.GetResponse](t, "leader")(e.Leader(ctx)); string(l.Kvs[0].Value) != "proposal-1" {
			t.Fatalf("leader %q, want etcdctl's proposal-1", l.Kvs[0].Value)
		}
		// clientv3 queues behind etcdctl; when etcdctl is interrupted it
		// resigns and clientv3 wins.
		won := make(chan error, 1)
		go func() { won <- e.Campaign(context.Background(), "proposal-2") }()
		time.Sleep(500 * time.Millisecond)
		_ = campaigner.Process.Signal(syscall.SIGINT)
		select {
		case err := <-won:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("clientv3 never won the election after etcdctl left")
		}
		waitOutput(t, heard, "proposal-2", 20*time.Second)
	})
}
