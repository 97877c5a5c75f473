package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"

	"github.com/photoncloud/core/pkg/telemetry"
)

// Defaults used when a Config field is zero.
const (
	DefaultMaxRequestBytes      = 1536 * 1024 // etcd's default: 1.5 MiB
	DefaultShutdownTimeout      = 10 * time.Second
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultMaxConcurrentStreams = 100_000
	DefaultUnaryWorkers         = 64
	// compressMinBytes keeps small responses uncompressed even when the
	// client offers gzip: compressing them costs more than it saves.
	compressMinBytes = 1024
)

// Config describes one service's server.
type Config struct {
	// Service is the short name of the service, e.g. "chainfire".
	Service string
	// Version and Revision describe the build, reported by GetInfo.
	Version  string
	Revision string
	// NodeName names this member or node, reported by GetInfo.
	NodeName string
	// ListenAddr is the host:port to listen on; port 0 picks a free port.
	ListenAddr string
	// Listener, when set, is used instead of listening on ListenAddr.
	Listener net.Listener
	// MaxRequestBytes bounds a request message; larger ones fail with
	// ResourceExhausted before they are decoded.
	MaxRequestBytes int
	// ShutdownTimeout bounds how long in-flight calls may take to finish.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout time.Duration
	// MaxConcurrentStreams bounds HTTP/2 streams per connection.
	MaxConcurrentStreams int
	// EnablePprof serves net/http/pprof under /debug/pprof/.
	EnablePprof bool
	// NoWriteCoalescing turns off batching of a connection's writes (see
	// coalescingConn).
	NoWriteCoalescing bool
	// UnaryWorkers is how many long-lived goroutines serve unary calls
	// (see workerPool); 0 means DefaultUnaryWorkers, negative none.
	UnaryWorkers int
}

// Server is a service's RPC server. Create it with New, mount handlers, then
// call Serve.
type Server struct {
	cfg       Config
	tel       *telemetry.Telemetry
	log       *slog.Logger
	listener  net.Listener
	mux       *http.ServeMux
	otel      connect.Interceptor
	started   time.Time
	readiness atomic.Pointer[ReadinessFunc]
	stopping  atomic.Bool

	workers *workerPool // set by Serve; nil before

	mu       sync.Mutex // serializes Mount
	services []string
	known    atomic.Pointer[map[string]procedure] // copied on Mount, read per call
}

// ReadinessFunc reports nil when the service is ready to serve, or an error
// saying why it is not.
type ReadinessFunc func(ctx context.Context) error

// New listens on cfg.ListenAddr (or uses cfg.Listener) and prepares the
// built-in endpoints. tel supplies providers and the logger.
func New(cfg Config, tel *telemetry.Telemetry) (*Server, error) {
	cfg = cfg.withDefaults()
	otel, err := newTelemetryInterceptor(tel)
	if err != nil {
		return nil, fmt.Errorf("server: otel interceptor: %w", err)
	}
	ln := cfg.Listener
	if ln == nil {
		ln, err = net.Listen("tcp", cfg.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("server: listen on %s: %w", cfg.ListenAddr, err)
		}
	}
	s := &Server{
		cfg:      cfg,
		tel:      tel,
		log:      tel.Logger.With("service", cfg.Service),
		listener: ln,
		mux:      http.NewServeMux(),
		otel:     otel,
		started:  time.Now(),
	}
	s.known.Store(&map[string]procedure{})
	s.mountBuiltins()
	return s, nil
}

// newTelemetryInterceptor returns otelconnect's interceptor when spans may
// be recorded, and otherwise rpcMetrics, which records the same metrics
// without per-call span and attribute work.
func newTelemetryInterceptor(tel *telemetry.Telemetry) (connect.Interceptor, error) {
	if !tel.TracingEnabled() {
		return newRPCMetrics(tel.MeterProvider, tel.Propagator)
	}
	return otelconnect.NewInterceptor(
		otelconnect.WithTracerProvider(tel.TracerProvider),
		otelconnect.WithMeterProvider(tel.MeterProvider),
		otelconnect.WithPropagator(tel.Propagator),
		otelconnect.WithTrustRemote(),
	)
}

func (c Config) withDefaults() Config {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.MaxConcurrentStreams <= 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.UnaryWorkers == 0 {
		c.UnaryWorkers = DefaultUnaryWorkers
	}
	return c
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Logger is the service's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Telemetry is the service's telemetry.
func (s *Server) Telemetry() *telemetry.Telemetry { return s.tel }

// SetReadiness installs the check behind /readyz and gRPC health. Until it is
// called the server reports ready as soon as it serves.
func (s *Server) SetReadiness(f ReadinessFunc) {
	if f == nil {
		s.readiness.Store(nil)
		return
	}
	s.readiness.Store(&f)
}

// HandlerOptions returns the options every connect handler of this server
// must be built with, followed by extra.
func (s *Server) HandlerOptions(extra ...connect.HandlerOption) []connect.HandlerOption {
	opts := []connect.HandlerOption{
		connect.WithInterceptors(s.otel, requestLogger{log: s.log}),
		connect.WithReadMaxBytes(s.cfg.MaxRequestBytes),
		connect.WithCompressMinBytes(compressMinBytes),
		connect.WithRecover(s.recoverPanic),
	}
	return append(opts, extra...)
}

// Serve serves until ctx is cancelled, then shuts down gracefully. It returns
// nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context) error {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.route),
		Protocols:         &protocols,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: s.cfg.MaxConcurrentStreams},
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.workers = newWorkerPool(max(s.cfg.UnaryWorkers, 0))
	defer s.workers.stop()
	serveErr := make(chan error, 1)
	ln := s.listener
	if !s.cfg.NoWriteCoalescing {
		ln = coalescingListener{ln}
	}
	go func() { serveErr <- srv.Serve(ln) }()
	s.log.Info("serving", "addr", s.Addr().String())
	select {
	case err := <-serveErr:
		return fmt.Errorf("server: serve: %w", err)
	case <-ctx.Done():
	}
	return s.shutdown(srv, serveErr)
}

func (s *Server) shutdown(srv *http.Server, serveErr <-chan error) error {
	s.stopping.Store(true)
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("in-flight calls did not finish in time; closing connections")
		err = srv.Close()
	}
	if serr := <-serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

func (s *Server) recoverPanic(ctx context.Context, spec connect.Spec, _ http.Header, v any) error {
	s.log.ErrorContext(ctx, "handler panicked", "procedure", spec.Procedure, "panic", fmt.Sprint(v))
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}
