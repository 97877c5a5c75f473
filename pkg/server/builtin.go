package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"google.golang.org/protobuf/types/known/timestamppb"

	systemv1 "github.com/photoncloud/core/proto/photoncloud/system/v1"
	"github.com/photoncloud/core/proto/photoncloud/system/v1/systemv1connect"
)

// readinessTimeout bounds one readiness evaluation.
const readinessTimeout = 2 * time.Second

var errStopping = errors.New("shutting down")

func (s *Server) mountBuiltins() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.serveReadyz)
	s.mux.Handle("GET /metrics", s.tel.MetricsHandler())
	s.mux.HandleFunc("/", writeUnimplemented)
	if s.cfg.EnablePprof {
		s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	s.Mount(grpchealth.NewHandler(healthChecker{s}, s.HandlerOptions()...))
	s.Mount(systemv1connect.NewSystemServiceHandler(infoService{s}, s.HandlerOptions()...))
	s.mountReflection()
}

// Ready evaluates the readiness check.
func (s *Server) Ready(ctx context.Context) error {
	if s.stopping.Load() {
		return errStopping
	}
	f := s.readiness.Load()
	if f == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	return (*f)(ctx)
}

func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.Ready(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// healthChecker answers grpc.health.v1 from the readiness check: the empty
// service name and every mounted service share the process's status.
type healthChecker struct{ s *Server }

func (h healthChecker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	if req.Service != "" && !h.s.hasService(req.Service) {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("unknown service "+req.Service))
	}
	if h.s.Ready(ctx) != nil {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

func (s *Server) hasService(name string) bool {
	for _, n := range s.Names() {
		if n == name {
			return true
		}
	}
	return false
}

type infoService struct{ s *Server }

func (i infoService) GetInfo(ctx context.Context, _ *connect.Request[systemv1.GetInfoRequest]) (*connect.Response[systemv1.GetInfoResponse], error) {
	cfg := i.s.cfg
	resp := &systemv1.GetInfoResponse{
		Service:   cfg.Service,
		Version:   cfg.Version,
		Revision:  cfg.Revision,
		GoVersion: runtime.Version(),
		StartTime: timestamppb.New(i.s.started),
		NodeName:  cfg.NodeName,
		Ready:     true,
	}
	if err := i.s.Ready(ctx); err != nil {
		resp.Ready = false
		resp.NotReadyReason = err.Error()
	}
	return connect.NewResponse(resp), nil
}
