// Package server is the one RPC bootstrap every PhotonCloud service runs on.
//
// A Server owns one TCP listener and one net/http server that speaks
// HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on the same port, so the
// same address answers gRPC, gRPC-Web and Connect (including plain JSON over
// HTTP/1.1 for curl). Services mount connect-go handlers built with
// HandlerOptions, which adds, in this order around every call:
//
//	OpenTelemetry (RPC metrics, and traces when exported) → request log →
//	panic recovery → handler
//
// Without a trace exporter the telemetry interceptor is rpcMetrics, which
// records otelconnect's metrics without its per-call span and attribute
// work. Unary calls run on a pool of long-lived worker goroutines (see
// workerPool) and every connection's writes are coalesced into fewer system
// calls (see coalescingConn): both cut the CPU the standard HTTP/2 server
// spends per call.
//
// Beside the services, every Server answers:
//
//   - grpc.health.v1.Health and GET /readyz: the readiness function the
//     service installed with SetReadiness (false while shutting down);
//   - GET /healthz: the process is alive and serving HTTP;
//   - GET /metrics: Prometheus exposition of the telemetry registry;
//   - gRPC server reflection (v1 and v1alpha) for every mounted service;
//   - photoncloud.system.v1.SystemService/GetInfo.
//
// A request for a method that is not mounted gets a well-formed
// Unimplemented error in the caller's protocol, never an HTTP 404 page.
//
// Transport settings follow what long-lived streams need: a high
// MaxConcurrentStreams (watch-heavy clients multiplex thousands of streams on
// one connection), ReadHeaderTimeout but never WriteTimeout (it would cut
// streams), and no compression of small responses.
//
// Serve blocks until its context is cancelled, then shuts down gracefully:
// readiness turns false, the listener closes (new connections are refused),
// in-flight calls get ShutdownTimeout to finish, and the rest are cut.
package server
