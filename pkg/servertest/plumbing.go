package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	systemv1 "github.com/photoncloud/core/proto/photoncloud/system/v1"
	"github.com/photoncloud/core/proto/photoncloud/system/v1/systemv1connect"
)

// CheckPlumbing runs the checks every PhotonCloud server must pass against a
// server of service name listening on addr. wantServices are the RPC
// services (besides the built-in ones) that reflection must list.
func CheckPlumbing(t *testing.T, addr, name string, wantServices ...string) {
	base := "http://" + addr
	WaitReady(t, addr)
	t.Run("grpc health serving", func(t *testing.T) {
		client := grpchealth.NewClient(HTTP2Client(), base, connect.WithGRPC())
		resp, err := client.Check(context.Background(), &grpchealth.CheckRequest{})
		if err != nil || resp.Status != grpchealth.StatusServing {
			t.Fatalf("Check = %v, %v; want SERVING", resp, err)
		}
	})
	t.Run("http endpoints", func(t *testing.T) {
		for path, want := range map[string]string{
			"/healthz": "ok",
			"/readyz":  "ok",
			"/metrics": "photoncloud_build_info{",
		} {
			body := httpGet(t, base+path, http.StatusOK)
			if !strings.Contains(body, want) {
				t.Errorf("GET %s: body lacks %q:\n%.500s", path, want, body)
			}
		}
	})
	t.Run("reflection lists services", func(t *testing.T) {
		names := listServices(t, base)
		for _, want := range append([]string{systemv1connect.SystemServiceName, "grpc.health.v1.Health"}, wantServices...) {
			if !slices.Contains(names, want) {
				t.Errorf("reflection lists %v; missing %s", names, want)
			}
		}
	})
	t.Run("connect json over http1", func(t *testing.T) {
		checkInfoOverJSON(t, base, name)
	})
	t.Run("grpc over http2", func(t *testing.T) {
		client := systemv1connect.NewSystemServiceClient(HTTP2Client(), base, connect.WithGRPC())
		resp, err := client.GetInfo(context.Background(), connect.NewRequest(&systemv1.GetInfoRequest{}))
		if err != nil {
			t.Fatalf("GetInfo over gRPC: %v", err)
		}
		if resp.Msg.GetService() != name || !resp.Msg.GetReady() {
			t.Errorf("GetInfo = %v; want service %q, ready", resp.Msg, name)
		}
	})
	t.Run("metrics count rpcs by method and code", func(t *testing.T) {
		body := httpGet(t, base+"/metrics", http.StatusOK)
		for _, want := range []string{
			`rpc_server_call_duration_seconds_count{`,
			`rpc_method="photoncloud.system.v1.SystemService/GetInfo"`,
			`rpc_response_status_code="OK"`,
			"go_goroutines ",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
	t.Run("unknown method is unimplemented", func(t *testing.T) {
		CheckUnknownMethod(t, base)
	})
	t.Run("oversized request is rejected", func(t *testing.T) {
		CheckOversized(t, base, 8<<20)
	})
}

func checkInfoOverJSON(t *testing.T, base, name string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+systemv1connect.SystemServiceGetInfoProcedure, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := HTTP1Client().Do(req)
	if err != nil {
		t.Fatalf("POST GetInfo: %v", err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST GetInfo: %s over %s", resp.Status, resp.Proto)
	}
	var info struct {
		Service string `json:"service"`
		Ready   bool   `json:"ready"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatalf("decode GetInfo JSON: %v", err)
	}
	if info.Service != name || !info.Ready {
		t.Errorf("GetInfo JSON = %+v; want service %q, ready", info, name)
	}
}

// CheckUnknownMethod asserts that a procedure nobody serves answers
// Unimplemented over gRPC, Connect, and within a mounted service.
func CheckUnknownMethod(t *testing.T, base string) {
	t.Helper()
	for _, procedure := range []string{"/no.such.v1.Service/Call", systemv1connect.SystemServiceName + "/NoSuchMethod"} {
		for _, opt := range []connect.ClientOption{connect.WithGRPC(), connect.WithProtoJSON()} {
			client := connect.NewClient[systemv1.GetInfoRequest, systemv1.GetInfoResponse](
				HTTP2Client(), base+"/"+strings.TrimPrefix(procedure, "/"), opt)
			_, err := client.CallUnary(context.Background(), connect.NewRequest(&systemv1.GetInfoRequest{}))
			if connect.CodeOf(err) != connect.CodeUnimplemented {
				t.Errorf("%s: err = %v; want unimplemented", procedure, err)
			}
		}
	}
}

// CheckOversized sends a request of size bytes and expects it refused with
// resource_exhausted or invalid_argument and a message that says why.
func CheckOversized(t *testing.T, base string, size int) {
	t.Helper()
	body := bytes.Repeat([]byte{' '}, size)
	body[0], body[len(body)-1] = '{', '}'
	req, _ := http.NewRequest(http.MethodPost, base+systemv1connect.SystemServiceGetInfoProcedure, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := HTTP1Client().Do(req)
	if err != nil {
		t.Fatalf("POST oversized: %v", err)
	}
	defer resp.Body.Close()
	var e struct{ Code, Message string }
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &e)
	if (e.Code != "resource_exhausted" && e.Code != "invalid_argument") || !strings.Contains(e.Message, "larger than") {
		t.Errorf("oversized request: %s %s; want resource_exhausted with a size message", resp.Status, raw)
	}
}

func httpGet(t *testing.T, url string, wantStatus int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %s; want %d: %s", url, resp.Status, wantStatus, body)
	}
	return string(body)
}

func listServices(t *testing.T, base string) []string {
	t.Helper()
	stream := grpcreflect.NewClient(HTTP2Client(), base).NewStream(context.Background())
	defer stream.Close()
	names, err := stream.ListServices()
	if err != nil {
		t.Fatalf("reflection ListServices: %v", err)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(n)
	}
	return out
}
