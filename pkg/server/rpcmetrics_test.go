package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	systemv1 "github.com/photoncloud/core/proto/photoncloud/system/v1"
)

var runtimeGosched = runtime.Gosched

// TestRPCMetricsMatchOtelconnect: without a trace exporter the server
// records calls with rpcMetrics, with one it uses otelconnect; /metrics must
// show the same call-duration series (names, labels, counts) either way.
func TestRPCMetricsMatchOtelconnect(t *testing.T) {
	collector := httptest.NewServer(&otlpReceiver{})
	t.Cleanup(collector.Close) // after the servers' cleanups flush to it
	cheap := startServer(t, Config{}, nil, nil)
	full := startServer(t, Config{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}, nil)
	if _, ok := cheap.otel.(*rpcMetrics); !ok {
		t.Fatalf("without an exporter the interceptor is %T; want *rpcMetrics", cheap.otel)
	}
	if _, ok := full.otel.(*rpcMetrics); ok {
		t.Fatal("with a trace exporter the interceptor must be otelconnect's")
	}
	series := func(ts *testServer) []string {
		ctx := context.Background()
		for range 3 {
			if _, err := ts.infoClient(connect.WithGRPC()).GetInfo(ctx, connect.NewRequest(&systemv1.GetInfoRequest{})); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ts.infoClient().GetInfo(ctx, connect.NewRequest(&systemv1.GetInfoRequest{})); err != nil {
			t.Fatal(err)
		}
		health := grpchealth.NewClient(http.DefaultClient, ts.base)
		if _, err := health.Check(ctx, &grpchealth.CheckRequest{Service: "no.such.Service"}); connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("health check of an unknown service: %v", err)
		}
		return callDurationCounts(t, ts.base)
	}
	got, want := series(cheap), series(full)
	if len(want) != 3 {
		t.Fatalf("otelconnect exported %d call-duration series; want 3 (grpc ok, connect ok, not found):\n%s", len(want), strings.Join(want, "\n"))
	}
	if !slices.Equal(got, want) {
		t.Errorf("rpcMetrics series:\n%s\notelconnect series:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var countLine = regexp.MustCompile(`^rpc_server_call_duration_seconds_count\{.*\} \d+$`)

func callDurationCounts(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if countLine.MatchString(line) {
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}
