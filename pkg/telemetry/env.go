package telemetry

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// samplerFromEnv maps OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG to a
// sampler. Unknown values fall back to the specification's default,
// parentbased_always_on, rather than failing start-up.
func samplerFromEnv(env otelEnv) sdktrace.Sampler {
	ratio := 1.0
	if arg := env.get("OTEL_TRACES_SAMPLER_ARG"); arg != "" {
		if r, err := strconv.ParseFloat(arg, 64); err == nil && r >= 0 && r <= 1 {
			ratio = r
		}
	}
	switch strings.ToLower(env.get("OTEL_TRACES_SAMPLER")) {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
	default:
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
}

// parseResourceAttributes parses OTEL_RESOURCE_ATTRIBUTES: comma-separated
// key=value pairs whose values may be percent-encoded.
func parseResourceAttributes(s string) ([]attribute.KeyValue, error) {
	var kvs []attribute.KeyValue
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("telemetry: OTEL_RESOURCE_ATTRIBUTES: malformed pair %q", pair)
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTEL_RESOURCE_ATTRIBUTES: value of %q: %w", k, err)
		}
		kvs = append(kvs, attribute.String(strings.TrimSpace(k), decoded))
	}
	return kvs, nil
}

// withScheme lets operators write "collector:4318" as well as a full URL.
func withScheme(endpoint string) string {
	if strings.Contains(endpoint, "://") {
		return endpoint
	}
	return "http://" + endpoint
}
