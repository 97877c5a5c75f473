package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace/noop"
)

func newResource(ctx context.Context, cfg Config, env otelEnv) (*resource.Resource, error) {
	// Later sources override earlier ones, so the OTEL_* variables win over
	// the service's own defaults, as the specification requires. The
	// variables are read through env so tests stay isolated.
	attrs := []resource.Option{
		resource.WithAttributes(
			semconv.ServiceName(cfg.ServiceName),
			semconv.ServiceVersion(cfg.Version),
		),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithHost(),
	}
	if extra := env.get("OTEL_RESOURCE_ATTRIBUTES"); extra != "" {
		kvs, err := parseResourceAttributes(extra)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, resource.WithAttributes(kvs...))
	}
	if name := env.get("OTEL_SERVICE_NAME"); name != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceName(name)))
	}
	res, err := resource.New(ctx, attrs...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return res, nil
}

func (t *Telemetry) setupTracing(ctx context.Context, env otelEnv, res *resource.Resource) error {
	endpoint := env.endpoint("TRACES")
	if endpoint == "" {
		t.TracerProvider = noop.NewTracerProvider()
		return nil
	}
	client := otlptracehttp.NewClient(otlptracehttp.WithEndpointURL(endpoint))
	if env.protocol("TRACES") == "grpc" {
		client = otlptracegrpc.NewClient(otlptracegrpc.WithEndpointURL(endpoint))
	}
	exporter, err := otlptrace.New(ctx, client)
	if err != nil {
		return fmt.Errorf("telemetry: OTLP trace exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(samplerFromEnv(env)),
	)
	t.TracerProvider = tp
	t.shutdowns = append(t.shutdowns, tp.Shutdown)
	return nil
}

func (t *Telemetry) setupMetrics(ctx context.Context, env otelEnv, res *resource.Resource) error {
	promExporter, err := otelprom.New(otelprom.WithRegisterer(t.Registry))
	if err != nil {
		return fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter)}
	if endpoint := env.endpoint("METRICS"); endpoint != "" {
		var exporter sdkmetric.Exporter
		if env.protocol("METRICS") == "grpc" {
			exporter, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpointURL(endpoint))
		} else {
			exporter, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(endpoint))
		}
		if err != nil {
			return fmt.Errorf("telemetry: OTLP metric exporter: %w", err)
		}
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exporter)))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	t.MeterProvider = mp
	t.shutdowns = append(t.shutdowns, mp.Shutdown)
	return nil
}
