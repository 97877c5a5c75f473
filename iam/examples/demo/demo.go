// Package demo is a small notes service protected by IAM through iamsdk:
// it shows how a PhotonCloud service maps its procedures to permissions and
// resources and lets the SDK's interceptor enforce IAM's decisions.
//
// Notes live under a project resource, so a note "n1" of project
// orgs/acme/projects/demo is the resource
// orgs/acme/projects/demo/demo/notes/n1, and permissions are
// demo.notes.read and demo.notes.write.
package demo

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/photoncloud/core/iam/iamsdk"
)

// Procedures of the demo service. The messages are protobuf well-known
// types, so the service needs no generated code.
const (
	ServiceName      = "photoncloud.demo.v1.NotesService"
	GetNoteProcedure = "/" + ServiceName + "/GetNote"
	PutNoteProcedure = "/" + ServiceName + "/PutNote"
	PingProcedure    = "/" + ServiceName + "/Ping"
)

// Permissions the demo service checks.
const (
	PermRead  = "demo.notes.read"
	PermWrite = "demo.notes.write"
)

// Service stores notes in memory.
type Service struct {
	project string
	mu      sync.Mutex
	notes   map[string]string
}

// New returns a service whose notes belong to the project resource.
func New(project string) *Service {
	return &Service{project: project, notes: map[string]string{}}
}

// Resource is the IAM resource of a note.
func (s *Service) Resource(id string) string { return s.project + "/demo/notes/" + id }

// noteID reads the note id of a request: GetNote takes the id, PutNote
// "id=text".
func noteID(req connect.AnyRequest) (string, error) {
	v, ok := req.Any().(*wrapperspb.StringValue)
	if !ok {
		return "", connect.NewError(connect.CodeInvalidArgument, errors.New("expected a string"))
	}
	id, _, _ := strings.Cut(v.GetValue(), "=")
	if id == "" || len(id) > 64 || strings.ContainsAny(id, "/ ") {
		return "", connect.NewError(connect.CodeInvalidArgument, errors.New("note id must be 1-64 characters without '/' or spaces"))
	}
	return id, nil
}

// Map is the service's iamsdk.Mapper: which permission each call needs.
func (s *Service) Map(_ context.Context, procedure string, req connect.AnyRequest) (iamsdk.Check, error) {
	switch procedure {
	case PingProcedure:
		return iamsdk.Check{Public: true}, nil
	case GetNoteProcedure, PutNoteProcedure:
		id, err := noteID(req)
		if err != nil {
			return iamsdk.Check{}, err
		}
		perm := PermRead
		if procedure == PutNoteProcedure {
			perm = PermWrite
		}
		return iamsdk.Check{Permission: perm, Resource: s.Resource(id)}, nil
	}
	// Unknown procedures map to nothing, which the interceptor denies.
	return iamsdk.Check{}, nil
}

// Register mounts the service on mux with the interceptor (and any other
// handler options).
func (s *Service) Register(mux *http.ServeMux, opts ...connect.HandlerOption) {
	mux.Handle(GetNoteProcedure, connect.NewUnaryHandler(GetNoteProcedure, s.getNote, opts...))
	mux.Handle(PutNoteProcedure, connect.NewUnaryHandler(PutNoteProcedure, s.putNote, opts...))
	mux.Handle(PingProcedure, connect.NewUnaryHandler(PingProcedure, s.ping, opts...))
}

func (s *Service) getNote(ctx context.Context, req *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
	s.mu.Lock()
	text, ok := s.notes[req.Msg.GetValue()]
	s.mu.Unlock()
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such note"))
	}
	return connect.NewResponse(wrapperspb.String(text)), nil
}

func (s *Service) putNote(ctx context.Context, req *connect.Request[wrapperspb.StringValue]) (*connect.Response[emptypb.Empty], error) {
	id, text, _ := strings.Cut(req.Msg.GetValue(), "=")
	s.mu.Lock()
	s.notes[id] = text
	s.mu.Unlock()
	return connect.NewResponse(&emptypb.Empty{}), nil
}

func (s *Service) ping(context.Context, *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.StringValue], error) {
	return connect.NewResponse(wrapperspb.String("pong")), nil
}

// Clients for the demo procedures.
type Client struct {
	Get  *connect.Client[wrapperspb.StringValue, wrapperspb.StringValue]
	Put  *connect.Client[wrapperspb.StringValue, emptypb.Empty]
	Ping *connect.Client[emptypb.Empty, wrapperspb.StringValue]
}

// NewClient returns clients of the service at baseURL.
func NewClient(hc connect.HTTPClient, baseURL string, opts ...connect.ClientOption) *Client {
	return &Client{
		Get:  connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](hc, baseURL+GetNoteProcedure, opts...),
		Put:  connect.NewClient[wrapperspb.StringValue, emptypb.Empty](hc, baseURL+PutNoteProcedure, opts...),
		Ping: connect.NewClient[emptypb.Empty, wrapperspb.StringValue](hc, baseURL+PingProcedure, opts...),
	}
}
