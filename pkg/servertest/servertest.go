// Package servertest starts PhotonCloud server binaries in-process and checks
// the plumbing every one of them must provide. Services call it from their
// own tests, so the three services are held to one contract by one test.
package servertest

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago, below the kernel's ephemeral range and never returned before in this
// process (see ports.go), so it stays free until the caller binds it unless
// another process picks the same port on purpose.
func FreeAddr(t testing.TB) string {
	t.Helper()
	if addr := pool.take(); addr != "" {
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserve a port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("release port: %v", err)
	}
	return addr
}

// RunCommand executes cmd with args in the background until the test ends,
// and waits until addr answers /healthz. The command's error, if any, is
// reported when the test cleans up.
func RunCommand(t testing.TB, cmd *cobra.Command, addr string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd.SetArgs(args)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s exited with: %v", cmd.Name(), err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop within 30s of cancellation", cmd.Name())
		}
	})
	WaitHealthy(t, addr, done)
}

// WaitHealthy polls http://addr/healthz until it answers 200, failing the
// test after 30 seconds or as soon as exited delivers.
func WaitHealthy(t testing.TB, addr string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("server exited before becoming healthy: %v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not healthy after 30s", addr)
}

// WaitReady polls http://addr/readyz until it answers 200, failing the
// test after 60 seconds (a Raft cluster needs an election first).
func WaitReady(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 60s", addr)
}

// HTTP2Client returns a client that speaks cleartext HTTP/2 with prior
// knowledge, as gRPC clients do.
func HTTP2Client() *http.Client {
	tr := &http.Transport{
		Protocols:       new(http.Protocols),
		TLSClientConfig: &tls.Config{},
	}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

// HTTP1Client returns a client restricted to HTTP/1.1.
func HTTP1Client() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP1(true)
	return &http.Client{Transport: tr}
}
