package authzbench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StartExternal is Start with IAM in a process of its own (the iam binary
// at bin), as in production: the client's work and garbage stay out of the
// server's runtime, and the server's CPU time can be read on its own.
func StartExternal(ctx context.Context, bin, dir string, sh Shape, flags ...string) (*Server, *Seeded, error) {
	return startSeeded(ctx, dir, sh, func(flags ...string) (*Server, error) {
		return startExternal(ctx, bin, dir, flags...)
	}, flags...)
}

func startExternal(ctx context.Context, bin, dir string, flags ...string) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	cmd := exec.CommandContext(ctx, bin, append([]string{"--listen-addr", addr, "--data-dir", dir, "--issuer", base,
		"--log-level", "error"}, flags...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("authzbench: starting %s: %w", bin, err)
	}
	s := &Server{Base: base, done: make(chan error, 1), proc: cmd.Process}
	s.stop = func() { _ = cmd.Process.Signal(syscall.SIGTERM) }
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("authzbench: iam exited: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	_ = cmd.Process.Kill()
	return nil, errors.New("authzbench: iam not ready after 30s")
}

// CPU is the server process's user+system CPU time so far, when it runs in
// a process of its own (0 otherwise).
func (s *Server) CPU() time.Duration {
	if s.proc == nil {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.proc.Pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields overall, in clock ticks (100 per second on Linux).
	_, rest, ok := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
