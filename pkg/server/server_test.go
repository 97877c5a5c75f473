package server

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/pkg/servertest"
	"github.com/photoncloud/core/pkg/telemetry"
	systemv1 "github.com/photoncloud/core/proto/photoncloud/system/v1"
	"github.com/photoncloud/core/proto/photoncloud/system/v1/systemv1connect"
)

// testServer is a Server under test with the means to stop it.
type testServer struct {
	*Server
	base   string
	tel    *telemetry.Telemetry
	cancel context.CancelFunc
	done   chan error
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startServer(t *testing.T, cfg Config, env map[string]string, logs *lockedBuffer) *testServer {
	t.Helper()
	if logs == nil {
		logs = &lockedBuffer{}
	}
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{
		ServiceName: "test-svc",
		Version:     "v0-test",
		LogLevel:    -4, // debug: request logs included
		LogOutput:   logs,
		Getenv:      func(k string) string { return env[k] },
	})
	if err != nil {
		t.Fatalf("telemetry.Setup: %v", err)
	}
	cfg.Service = "test-svc"
	cfg.ListenAddr = "127.0.0.1:0"
	srv, err := New(cfg, tel)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: srv, base: "http://" + srv.Addr().String(), tel: tel, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ctx) }()
	t.Cleanup(func() { ts.stop(t) })
	servertest.WaitHealthy(t, srv.Addr().String(), nil)
	return ts
}

// stop shuts the server down and flushes telemetry; it is idempotent.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	ts.cancel = nil
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after cancellation")
	}
	if err := ts.tel.Shutdown(context.Background()); err != nil {
		t.Errorf("telemetry shutdown: %v", err)
	}
}

func (ts *testServer) infoClient(opts ...connect.ClientOption) systemv1connect.SystemServiceClient {
	return systemv1connect.NewSystemServiceClient(servertest.HTTP2Client(), ts.base, opts...)
}

func TestGracefulShutdownFinishesInFlightCalls(t *testing.T) {
	ts := startServer(t, Config{ShutdownTimeout: 20 * time.Second}, nil, nil)
	entered := make(chan struct{})
	release := make(chan struct{})
	ts.SetReadiness(func(ctx context.Context) error {
		close(entered)
		<-release
		return nil
	})
	type result struct {
		resp *connect.Response[systemv1.GetInfoResponse]
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := ts.infoClient(connect.WithGRPC()).GetInfo(context.Background(), connect.NewRequest(&systemv1.GetInfoRequest{}))
		got <- result{resp, err}
	}()
	<-entered
	ts.cancel()
	// Once shutdown has begun, the listener is closed: new connections fail.
	addr := ts.Addr().String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	r := <-got
	if r.err != nil {
		t.Fatalf("in-flight call failed during graceful shutdown: %v", r.err)
	}
	if !r.resp.Msg.GetReady() {
		t.Errorf("in-flight call answered %v; want the pre-shutdown readiness", r.resp.Msg)
	}
	if err := <-ts.done; err != nil {
		t.Errorf("Serve after graceful shutdown: %v", err)
	}
	ts.cancel = nil
	_ = ts.tel.Shutdown(context.Background())
}

func TestShutdownCutsCallsPastTheTimeout(t *testing.T) {
	ts := startServer(t, Config{ShutdownTimeout: 200 * time.Millisecond}, nil, nil)
	entered := make(chan struct{})
	ts.SetReadiness(func(ctx context.Context) error {
		close(entered)
		<-ctx.Done() // never finishes on its own within the shutdown timeout
		return ctx.Err()
	})
	go func() {
		_, _ = ts.infoClient(connect.WithGRPC()).GetInfo(context.Background(), connect.NewRequest(&systemv1.GetInfoRequest{}))
	}()
	<-entered
	start := time.Now()
	ts.stop(t)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("shutdown took %v with a 200ms timeout", took)
	}
}

func TestReadinessDrivesHealthAndReadyz(t *testing.T) {
	ts := startServer(t, Config{}, nil, nil)
	ts.SetReadiness(func(context.Context) error { return errors.New("no leader") })
	resp, err := http.Get(ts.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %s; want 503 while not ready", resp.Status)
	}
	info, err := ts.infoClient().GetInfo(context.Background(), connect.NewRequest(&systemv1.GetInfoRequest{}))
	if err != nil || info.Msg.GetReady() || info.Msg.GetNotReadyReason() != "no leader" {
		t.Errorf("GetInfo = %v, %v; want not ready because of no leader", info, err)
	}
}

func TestPanicBecomesInternalError(t *testing.T) {
	ts := startServer(t, Config{}, nil, nil)
	ts.SetReadiness(func(context.Context) error { panic("boom") })
	_, err := ts.infoClient(connect.WithGRPC()).GetInfo(context.Background(), connect.NewRequest(&systemv1.GetInfoRequest{}))
	if connect.CodeOf(err) != connect.CodeInternal || strings.Contains(err.Error(), "boom") {
		t.Errorf("err = %v; want internal without leaking the panic value", err)
	}
	ts.SetReadiness(nil)
	if _, err := http.Get(ts.base + "/healthz"); err != nil {
		t.Errorf("server unusable after a panic: %v", err)
	}
}

func TestRequestLimitAndUnknownMethods(t *testing.T) {
	ts := startServer(t, Config{MaxRequestBytes: 1024}, nil, nil)
	servertest.CheckOversized(t, ts.base, 4096)
	servertest.CheckUnknownMethod(t, ts.base)
}
