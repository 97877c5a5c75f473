package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Mount serves a connect handler under its service path ("/pkg.Service/"),
// as returned by the generated NewXxxHandler functions. The service becomes
// visible to reflection and health checks, and calls to methods the service
// does not define get Unimplemented.
func (s *Server) Mount(path string, h http.Handler) {
	name := strings.Trim(path, "/")
	procedures := serviceProcedures(name)
	s.mu.Lock()
	s.services = append(s.services, name)
	known := make(map[string]procedure, len(*s.known.Load())+len(procedures))
	for k, v := range *s.known.Load() {
		known[k] = v
	}
	for p, kind := range procedures {
		known[p] = kind
	}
	s.known.Store(&known)
	s.mu.Unlock()
	s.mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.procedureOf(r) == unknownProcedure {
			writeUnimplemented(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

func (s *Server) procedureOf(r *http.Request) procedure { return (*s.known.Load())[r.URL.Path] }

// route routes a request. HTTP/2 calls of unary methods are handed to the
// worker pool before routing, so the mux, Connect and the handler all run
// on a worker's grown stack. HTTP/1.x requests already run on their
// keep-alive connection's long-lived goroutine: a hand-off would only add
// two context switches.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor >= 2 && s.procedureOf(r) == unaryProcedure {
		s.workers.serveHTTP(s.mux, w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// procedure is what Mount knows of a method path.
type procedure uint8

const (
	unknownProcedure   procedure = iota
	unaryProcedure               // served on the worker pool
	streamingProcedure           // long-lived: served on its own goroutine
)

// HandleHTTP serves a plain HTTP endpoint (pattern as for http.ServeMux),
// for the few APIs that are not RPC, such as OAuth2 and OIDC endpoints.
func (s *Server) HandleHTTP(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Names implements grpcreflect.Namer: the services mounted so far.
func (s *Server) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.services...)
}

// serviceProcedures maps "/pkg.Service/Method" of every method of the named
// service to its kind, from the generated descriptors linked into the binary.
func serviceProcedures(name string) map[string]procedure {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		panic(fmt.Sprintf("server: mount %q: service descriptor not linked in: %v", name, err))
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		panic(fmt.Sprintf("server: mount %q: not a service", name))
	}
	methods := sd.Methods()
	out := make(map[string]procedure, methods.Len())
	for i := range methods.Len() {
		md := methods.Get(i)
		kind := unaryProcedure
		if md.IsStreamingClient() || md.IsStreamingServer() {
			kind = streamingProcedure
		}
		out["/"+name+"/"+string(md.Name())] = kind
	}
	return out
}

func (s *Server) mountReflection() {
	reflector := grpcreflect.NewReflector(s)
	s.mux.Handle(grpcreflect.NewHandlerV1(reflector))
	s.mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
}

// writeUnimplemented answers a call to an unknown procedure in the caller's
// own protocol: gRPC and gRPC-Web get a trailers-only response with status
// 12, Connect gets its JSON error with HTTP 404 (which Connect maps to
// unimplemented), and anything else a plain 404.
func writeUnimplemented(w http.ResponseWriter, r *http.Request) {
	msg := "unknown procedure " + r.URL.Path
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/grpc"):
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Grpc-Status", "12")
		w.Header().Set("Grpc-Message", url.PathEscape(msg))
		w.WriteHeader(http.StatusOK)
	case strings.HasPrefix(ct, "application/connect+"), strings.HasPrefix(ct, "application/json"),
		strings.HasPrefix(ct, "application/proto"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"code":"unimplemented","message":%q}`, msg)
	default:
		http.Error(w, msg, http.StatusNotFound)
	}
}
