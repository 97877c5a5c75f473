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
	for _, p := range procedures {
		s.known[p] = true
	}
	s.mu.Unlock()
	s.mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.isKnown(r.URL.Path) {
			writeUnimplemented(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// HandleHTTP serves a plain HTTP endpoint (pattern as for http.ServeMux),
// for the few APIs that are not RPC, such as OAuth2 and OIDC endpoints.
func (s *Server) HandleHTTP(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Names implements grpcreflect.Namer: the services mounted so far.
func (s *Server) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.services...)
}

func (s *Server) isKnown(procedure string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known[procedure]
}

// serviceProcedures lists "/pkg.Service/Method" for every method of the
// named service, from the generated descriptors linked into the binary.
func serviceProcedures(name string) []string {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		panic(fmt.Sprintf("server: mount %q: service descriptor not linked in: %v", name, err))
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		panic(fmt.Sprintf("server: mount %q: not a service", name))
	}
	methods := sd.Methods()
	out := make([]string, 0, methods.Len())
	for i := range methods.Len() {
		out = append(out, "/"+name+"/"+string(methods.Get(i).Name()))
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
