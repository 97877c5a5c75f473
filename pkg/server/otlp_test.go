package server

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	systemv1 "github.com/photoncloud/core/proto/photoncloud/system/v1"
)

// otlpReceiver is a minimal OTLP/HTTP trace endpoint that keeps what it gets.
type otlpReceiver struct {
	mu       sync.Mutex
	requests []*coltracepb.ExportTraceServiceRequest
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/v1/metrics" {
		w.Header().Set("Content-Type", "application/x-protobuf")
		return // metrics are accepted and dropped
	}
	if req.URL.Path != "/v1/traces" {
		http.NotFound(w, req)
		return
	}
	body := io.Reader(req.Body)
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.requests = append(r.requests, &msg)
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// serverSpans returns every server span received, with its resource's
// service.name.
func (r *otlpReceiver) serverSpans() (spans []*tracepb.Span, services []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, req := range r.requests {
		for _, rs := range req.GetResourceSpans() {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					if sp.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
						spans = append(spans, sp)
						services = append(services, service)
					}
				}
			}
		}
	}
	return spans, services
}

func TestOTLPExportsServerSpanWithPropagatedContext(t *testing.T) {
	receiver := &otlpReceiver{}
	collector := httptest.NewServer(receiver)
	defer collector.Close()
	logs := &lockedBuffer{}
	ts := startServer(t, Config{}, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_SERVICE_NAME":           "otel-test-service",
	}, logs)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const parentSpanID = "00f067aa0ba902b7"
	req := connect.NewRequest(&systemv1.GetInfoRequest{})
	req.Header().Set("traceparent", "00-"+traceID+"-"+parentSpanID+"-01")
	if _, err := ts.infoClient(connect.WithGRPC()).GetInfo(context.Background(), req); err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	ts.stop(t) // flushes the batch span processor

	spans, services := receiver.serverSpans()
	if len(spans) != 1 {
		t.Fatalf("got %d server spans; want 1", len(spans))
	}
	sp := spans[0]
	if got := hexID(sp.GetTraceId()); got != traceID {
		t.Errorf("trace id %s; want the caller's %s", got, traceID)
	}
	if got := hexID(sp.GetParentSpanId()); got != parentSpanID {
		t.Errorf("parent span id %s; want the caller's %s", got, parentSpanID)
	}
	if services[0] != "otel-test-service" {
		t.Errorf("service.name %q; want OTEL_SERVICE_NAME's value", services[0])
	}
	attrs := map[string]string{}
	for _, kv := range sp.GetAttributes() {
		attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	if attrs["rpc.method"] != "photoncloud.system.v1.SystemService/GetInfo" || attrs["rpc.system.name"] == "" {
		t.Errorf("span attributes %v lack the RPC method and system", attrs)
	}
	if !strings.Contains(logs.String(), `"trace_id":"`+traceID+`"`) {
		t.Errorf("request log lacks the trace id:\n%s", logs.String())
	}
}

func TestNoEndpointRecordsNoSpans(t *testing.T) {
	logs := &lockedBuffer{}
	ts := startServer(t, Config{}, nil, logs)
	if _, ok := ts.tel.TracerProvider.(interface{ ForceFlush(context.Context) error }); ok {
		t.Error("without an OTLP endpoint the tracer provider must be a no-op, not the SDK")
	}
	// An incoming trace context still reaches the logs.
	req := connect.NewRequest(&systemv1.GetInfoRequest{})
	req.Header().Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if _, err := ts.infoClient().GetInfo(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Errorf("request log lacks the propagated trace id:\n%s", logs.String())
	}
}

func hexID(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return string(out)
}
