package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config names the process being instrumented.
type Config struct {
	// ServiceName is the default service.name (OTEL_SERVICE_NAME wins).
	ServiceName string
	// Version and Revision describe the build; they label build info.
	Version  string
	Revision string
	// LogLevel is the minimum level written to LogOutput.
	LogLevel slog.Level
	// LogOutput receives JSON log lines; os.Stderr when nil.
	LogOutput io.Writer
	// Getenv reads the OTEL_* configuration; os.Getenv when nil. Tests use
	// it to configure one process without touching the real environment.
	Getenv func(string) string
}

// Telemetry holds the providers a process hands to its instrumented parts.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	// Registry is the Prometheus registry served on /metrics; services may
	// register their own collectors on it.
	Registry *prometheus.Registry
	Logger   *slog.Logger

	shutdowns []func(context.Context) error
}

// Setup builds the providers described by cfg and the OTEL_* environment.
// Call Shutdown to flush exporters before the process exits.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.LogOutput == nil {
		cfg.LogOutput = os.Stderr
	}
	t := &Telemetry{
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Registry:   prometheus.NewRegistry(),
		Logger:     NewLogger(cfg.LogOutput, cfg.LogLevel),
	}
	if err := t.registerProcessCollectors(cfg); err != nil {
		return nil, err
	}
	env := otelEnv{getenv: cfg.Getenv}
	res, err := newResource(ctx, cfg, env)
	if err != nil {
		return nil, err
	}
	if err := t.setupTracing(ctx, env, res); err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	if err := t.setupMetrics(ctx, env, res); err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	return t, nil
}

// TracingEnabled reports whether spans may be recorded: false when the
// tracer provider is a no-op (no OTLP trace endpoint), so instrumentation
// can skip building spans and their attributes altogether.
func (t *Telemetry) TracingEnabled() bool {
	if t.TracerProvider == nil {
		return false
	}
	_, isNoop := t.TracerProvider.(noop.TracerProvider)
	return !isNoop
}

// MetricsHandler serves the Prometheus registry in the text exposition format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry})
}

// Shutdown flushes and stops every exporter. It is safe to call once.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(t.shutdowns) - 1; i >= 0; i-- {
		if err := t.shutdowns[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	t.shutdowns = nil
	return errors.Join(errs...)
}

func (t *Telemetry) registerProcessCollectors(cfg Config) error {
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "photoncloud_build_info",
		Help: "Build of the running binary; the value is always 1.",
	}, []string{"service", "version", "revision", "goversion"})
	buildInfo.WithLabelValues(cfg.ServiceName, cfg.Version, cfg.Revision, runtime.Version()).Set(1)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	} {
		if err := t.Registry.Register(c); err != nil {
			return fmt.Errorf("telemetry: register collector: %w", err)
		}
	}
	return nil
}

// otelEnv reads the OpenTelemetry environment variables through a
// replaceable lookup.
type otelEnv struct{ getenv func(string) string }

func (e otelEnv) get(name string) string { return strings.TrimSpace(e.getenv(name)) }

func (e otelEnv) disabled() bool { return strings.EqualFold(e.get("OTEL_SDK_DISABLED"), "true") }

// endpoint returns the OTLP endpoint URL for a signal ("TRACES" or
// "METRICS"), or "" when that signal is not to be exported over OTLP. As the
// specification says, a per-signal endpoint is used as given, while the
// shared OTEL_EXPORTER_OTLP_ENDPOINT gets the signal's path appended when
// the protocol is HTTP.
func (e otelEnv) endpoint(signal string) string {
	if e.disabled() || strings.EqualFold(e.get("OTEL_"+signal+"_EXPORTER"), "none") {
		return ""
	}
	if v := e.get("OTEL_EXPORTER_OTLP_" + signal + "_ENDPOINT"); v != "" {
		return withScheme(v)
	}
	v := e.get("OTEL_EXPORTER_OTLP_ENDPOINT")
	if v == "" {
		return ""
	}
	v = withScheme(v)
	if e.protocol(signal) == "grpc" {
		return v
	}
	return strings.TrimSuffix(v, "/") + "/v1/" + strings.ToLower(signal)
}

// protocol returns "grpc" or "http/protobuf" for a signal.
func (e otelEnv) protocol(signal string) string {
	p := e.get("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL")
	if p == "" {
		p = e.get("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if p == "grpc" {
		return p
	}
	return "http/protobuf"
}
