package authzbench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/iam/iamsdk"
	"github.com/photoncloud/core/iam/internal/app"
	"github.com/photoncloud/core/iam/internal/iamtest"
	"github.com/photoncloud/core/iam/internal/store"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// Server is an IAM process running in this one, on loopback.
type Server struct {
	Base string
	stop context.CancelFunc
	done chan error
	proc *os.Process // when IAM runs in a process of its own
}

// Start seeds a fresh store in dir and runs IAM on a free loopback port.
// IAM is started once before seeding so that its own first-start
// bootstrap happens as in production.
func Start(ctx context.Context, dir string, sh Shape, flags ...string) (*Server, *Seeded, error) {
	return startSeeded(ctx, dir, sh, func(flags ...string) (*Server, error) {
		return startServer(ctx, dir, flags...)
	}, flags...)
}

// startSeeded starts IAM with start (so its first-start bootstrap runs as
// in production), stops it, seeds the store in dir with sh, and starts it
// again with flags.
func startSeeded(ctx context.Context, dir string, sh Shape, start func(flags ...string) (*Server, error), flags ...string) (*Server, *Seeded, error) {
	s, err := start()
	if err != nil {
		return nil, nil, err
	}
	if err := s.Stop(); err != nil {
		return nil, nil, err
	}
	st, err := store.OpenBolt(dir)
	if err != nil {
		return nil, nil, err
	}
	seeded, err := Seed(ctx, st, sh, 1)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	s, err = start(flags...)
	return s, seeded, err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startServer(ctx context.Context, dir string, flags ...string) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	cctx, cancel := context.WithCancel(ctx)
	cmd := app.Command("bench", "bench")
	cmd.SetArgs(append([]string{"--listen-addr", addr, "--data-dir", dir, "--issuer", base, "--log-level", "error"}, flags...))
	s := &Server{Base: base, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- cmd.ExecuteContext(cctx) }()
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
			cancel()
			return nil, fmt.Errorf("authzbench: iam exited: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	return nil, errors.New("authzbench: iam not ready after 30s")
}

// Stop shuts the server down.
func (s *Server) Stop() error {
	s.stop()
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("authzbench: iam did not stop")
	}
}

func http1(conns int) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols), MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	tr.Protocols.SetHTTP1(true)
	return &http.Client{Transport: tr}
}

// h2c is a cleartext HTTP/2 client, as gRPC clients use: many concurrent
// streams over one connection.
func h2c() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: &tls.Config{}, MaxIdleConnsPerHost: 64}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

// RPCOptions choose the transport of RPCAsk.
type RPCOptions struct {
	// Conns is the number of HTTP/2 connections (clients).
	Conns int
	// Connect uses the Connect protocol instead of gRPC.
	Connect bool
	// HTTP1 uses HTTP/1.1 connections (one per concurrent call) and the
	// Connect protocol.
	HTTP1 bool
	// GET sends Authorize as a Connect GET request (the method has no side
	// effects): one HEADERS frame, no request body.
	GET bool
	// SDKHTTP1 uses iamsdk.HTTP1Client (the Connect protocol over pooled
	// HTTP/1.1 connections, no net/http Transport), one connection per
	// concurrent caller.
	SDKHTTP1 bool
}

// Describe names the transport and the concurrency for reports.
func (o RPCOptions) Describe(workers int) string {
	switch {
	case o.SDKHTTP1:
		return fmt.Sprintf("sdk http1, %d conns", workers)
	case o.HTTP1:
		return fmt.Sprintf("net/http http1, %d callers", workers)
	case o.Connect:
		return fmt.Sprintf("h2c connect, %dx%d", o.Conns, workers)
	}
	return fmt.Sprintf("h2c grpc, %dx%d", o.Conns, workers)
}

// RPCAsk returns an Ask that calls Authorize over loopback as the seeded
// trusted service account.
func RPCAsk(ctx context.Context, s *Server, sd *Seeded, o RPCOptions) (Ask, error) {
	tok, err := iamtest.ClientCredentials(ctx, s.Base, sd.ClientID, sd.Secret)
	if err != nil {
		return nil, err
	}
	n := max(o.Conns, 1)
	if o.SDKHTTP1 {
		n = 1 // one pool, one connection per concurrent caller
	}
	clients := make([]iamv1connect.AuthzServiceClient, n)
	for i := range clients {
		var opts []connect.ClientOption
		switch {
		case o.GET:
			opts = append(opts, connect.WithHTTPGet(), connect.WithHTTPGetMaxURLSize(4096, true))
		case !o.Connect && !o.HTTP1 && !o.SDKHTTP1:
			opts = append(opts, connect.WithGRPC())
		}
		var hc connect.HTTPClient = h2c()
		switch {
		case o.SDKHTTP1:
			if hc, err = iamsdk.NewHTTP1Client(s.Base, iamsdk.HTTP1Options{MaxConns: 256}); err != nil {
				return nil, err
			}
		case o.HTTP1:
			hc = http1(256)
		}
		clients[i] = iamv1connect.NewAuthzServiceClient(hc, s.Base, opts...)
	}
	var next atomic.Uint64
	return func(ctx context.Context, q Question) (bool, error) {
		c := clients[next.Add(1)%uint64(len(clients))]
		req := connect.NewRequest(&iamv1.AuthorizeRequest{Principal: q.Principal, Permission: q.Permission, Resource: q.Resource})
		req.Header().Set("Authorization", "Bearer "+tok)
		resp, err := c.Authorize(ctx, req)
		if err != nil {
			return false, err
		}
		return resp.Msg.GetAllowed(), nil
	}, nil
}

// RPCBatch asks questions in BatchAuthorize calls of size each, from
// workers concurrent callers, and reports per-decision throughput and
// per-call latency.
func RPCBatch(ctx context.Context, s *Server, sd *Seeded, qs []Question, size, workers int) (Result, error) {
	tok, err := iamtest.ClientCredentials(ctx, s.Base, sd.ClientID, sd.Secret)
	if err != nil {
		return Result{}, err
	}
	client := iamv1connect.NewAuthzServiceClient(h2c(), s.Base)
	var batches []Question // one representative per batch, for Run
	for i := 0; i+size <= len(qs); i += size {
		batches = append(batches, Question{Resource: fmt.Sprint(i)})
	}
	var allowed atomic.Int64
	res := Run(ctx, batches, workers, func(ctx context.Context, b Question) (bool, error) {
		var start int
		fmt.Sscan(b.Resource, &start)
		req := &iamv1.BatchAuthorizeRequest{}
		for _, q := range qs[start : start+size] {
			req.Requests = append(req.Requests, &iamv1.AuthorizeRequest{Principal: q.Principal, Permission: q.Permission, Resource: q.Resource})
		}
		r := connect.NewRequest(req)
		r.Header().Set("Authorization", "Bearer "+tok)
		resp, err := client.BatchAuthorize(ctx, r)
		if err != nil {
			return false, err
		}
		for _, d := range resp.Msg.GetResponses() {
			if d.GetAllowed() {
				allowed.Add(1)
			}
		}
		return false, nil
	})
	res.Decisions, res.Allowed = len(batches)*size, int(allowed.Load())
	return res, nil
}
