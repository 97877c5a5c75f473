// Package telemetry wires a PhotonCloud process into OpenTelemetry,
// Prometheus and structured logging, the same way for every service.
//
// Configuration follows the OpenTelemetry specification's environment
// variables rather than flags of our own, so operators configure PhotonCloud
// like any other instrumented program:
//
//   - OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the resource;
//   - OTEL_EXPORTER_OTLP_ENDPOINT (or the per-signal _TRACES_/_METRICS_
//     variants) turns on OTLP export, over OTEL_EXPORTER_OTLP_PROTOCOL
//     ("http/protobuf" by default, or "grpc");
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG choose the sampler;
//   - OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none and
//     OTEL_METRICS_EXPORTER=none turn signals off.
//
// Without an OTLP endpoint no span is recorded at all: the tracer provider is
// a no-op that still carries an incoming W3C trace context through the
// process, so logs keep the caller's trace id at no cost. Metrics always feed
// the Prometheus registry served on /metrics, and additionally OTLP when an
// endpoint is configured.
//
// Logs are JSON lines from log/slog; a record logged with a context that
// carries a span gets trace_id and span_id attributes.
package telemetry
