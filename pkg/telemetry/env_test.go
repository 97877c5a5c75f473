package telemetry

import "testing"

func TestEndpointFollowsTheSpecification(t *testing.T) {
	cases := []struct {
		name   string
		env    map[string]string
		signal string
		want   string
	}{
		{"unset", nil, "TRACES", ""},
		{"shared http gets signal path", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "TRACES", "http://c:4318/v1/traces"},
		{"shared without scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "c:4318"}, "METRICS", "http://c:4318/v1/metrics"},
		{"shared grpc as given", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "TRACES", "http://c:4317"},
		{"per-signal as given", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b/x"}, "TRACES", "http://b/x"},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a", "OTEL_TRACES_EXPORTER": "none"}, "TRACES", ""},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a", "OTEL_SDK_DISABLED": "true"}, "METRICS", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := otelEnv{getenv: func(k string) string { return c.env[k] }}
			if got := env.endpoint(c.signal); got != c.want {
				t.Errorf("endpoint(%s) = %q; want %q", c.signal, got, c.want)
			}
		})
	}
}

func TestParseResourceAttributes(t *testing.T) {
	kvs, err := parseResourceAttributes("deployment.environment=prod, team=a%20b")
	if err != nil || len(kvs) != 2 || kvs[1].Value.AsString() != "a b" {
		t.Fatalf("parse = %v, %v", kvs, err)
	}
	if _, err := parseResourceAttributes("novalue"); err == nil {
		t.Error("a pair without '=' must be rejected")
	}
}

func TestSamplerFromEnv(t *testing.T) {
	env := otelEnv{getenv: func(k string) string {
		return map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}[k]
	}}
	if got := samplerFromEnv(env).Description(); got != "AlwaysOffSampler" {
		t.Errorf("sampler = %s; want AlwaysOffSampler", got)
	}
}
