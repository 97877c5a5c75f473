package iamsdk

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// Check is what one call needs: Permission on Resource.
type Check struct {
	Permission string
	Resource   string
	// ResourceAttributes are visible to IAM conditions.
	ResourceAttributes map[string]string
	// Public skips authorization (and authentication) for this call.
	Public bool
}

// Mapper maps a call to the check it needs. req is nil for streaming
// calls, which are mapped by procedure alone. An error is returned to the
// caller as is (use connect errors for a specific code).
type Mapper func(ctx context.Context, procedure string, req connect.AnyRequest) (Check, error)

// Question is what the interceptor asks IAM about one call.
type Question struct {
	// Principal is the subject's member string.
	Principal  string
	Permission string
	Resource   string
	// ResourceAttributes come from the Mapper.
	ResourceAttributes map[string]string
	// SourceIP is the address the call came from (of the direct caller:
	// a forwarding service's, when it acts for someone).
	SourceIP string
}

// Decider answers authorization questions; an AuthzService client adapts
// to it through AuthzClient.
type Decider interface {
	Authorize(ctx context.Context, q Question) (bool, error)
}

// AuthzClient adapts an AuthzService client (which must carry this
// service's own credentials, e.g. through NewClientInterceptor, and hold
// iam.authz.check) to a Decider.
func AuthzClient(c iamv1connect.AuthzServiceClient) Decider { return authzClient{c} }

type authzClient struct {
	c iamv1connect.AuthzServiceClient
}

func (a authzClient) Authorize(ctx context.Context, q Question) (bool, error) {
	resp, err := a.c.Authorize(ctx, connect.NewRequest(&iamv1.AuthorizeRequest{
		Principal: q.Principal, Permission: q.Permission, Resource: q.Resource,
		ResourceAttributes: q.ResourceAttributes, SourceIp: q.SourceIP,
	}))
	if err != nil {
		return false, err
	}
	return resp.Msg.GetAllowed(), nil
}

// ServerConfig configures ServerInterceptor.
type ServerConfig struct {
	Keys    *KeySet
	Decider Decider
	Map     Mapper
	// CacheTTL bounds how long a decision is reused, and therefore how long
	// a revoked grant may still be honoured and how long IAM may be
	// unreachable before calls fail (default 5s; negative: no cache).
	CacheTTL time.Duration
	// Timeout bounds one call to IAM (default 2s).
	Timeout time.Duration
	Now     func() time.Time
}

// ServerInterceptor enforces IAM decisions on a Connect service.
type ServerInterceptor struct {
	cfg   ServerConfig
	seed  maphash.Seed
	mu    [32]sync.Mutex
	cache [32]map[string]time.Time // allowed decisions: key -> decided at

	// inflight deduplicates concurrent identical questions to IAM, so a
	// burst after a cache entry expires costs one call, not one per
	// request.
	inflightMu sync.Mutex
	inflight   map[string]*pending
}

type pending struct {
	done chan struct{}
	ok   bool
	err  error
}

// NewServerInterceptor returns an interceptor; Keys, Decider and Map are
// required.
func NewServerInterceptor(cfg ServerConfig) (*ServerInterceptor, error) {
	if cfg.Keys == nil || cfg.Decider == nil || cfg.Map == nil {
		return nil, errors.New("iamsdk: Keys, Decider and Map are required")
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &ServerInterceptor{cfg: cfg, seed: maphash.MakeSeed(), inflight: map[string]*pending{}}
	for i := range s.cache {
		s.cache[i] = map[string]time.Time{}
	}
	return s, nil
}

type subjectKey struct{}

// SubjectFromContext returns the subject a call is being served for (the
// originating user when a service called on its behalf).
func SubjectFromContext(ctx context.Context) (*Subject, bool) {
	s, ok := ctx.Value(subjectKey{}).(*Subject)
	return s, ok
}

// WithSubject returns ctx carrying s, so outgoing calls act for it.
func WithSubject(ctx context.Context, s *Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, s)
}

func unauthenticated(msg string, err error) error {
	if err != nil {
		return connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("%s: %w", msg, err))
	}
	return connect.NewError(connect.CodeUnauthenticated, errors.New(msg))
}

// subject authenticates the direct caller and, when it acts for someone,
// the originating subject, which is the one the call is checked as.
func (s *ServerInterceptor) subject(ctx context.Context, h http.Header) (*Subject, error) {
	tok, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return nil, unauthenticated("an access token is required", nil)
	}
	caller, err := s.cfg.Keys.Verify(ctx, tok)
	if err != nil {
		return nil, unauthenticated("invalid access token", err)
	}
	orig := h.Get(OriginatingTokenHeader)
	if orig == "" {
		return caller, nil
	}
	on, err := s.cfg.Keys.Verify(ctx, orig)
	if err != nil {
		return nil, unauthenticated("invalid originating token", err)
	}
	return on, nil
}

func (s *ServerInterceptor) cached(key string, now time.Time) bool {
	i := maphash.String(s.seed, key) % uint64(len(s.cache))
	s.mu[i].Lock()
	defer s.mu[i].Unlock()
	at, ok := s.cache[i][key]
	return ok && now.Sub(at) < s.cfg.CacheTTL
}

func (s *ServerInterceptor) remember(key string, now time.Time) {
	i := maphash.String(s.seed, key) % uint64(len(s.cache))
	s.mu[i].Lock()
	defer s.mu[i].Unlock()
	if len(s.cache[i]) > 4096 {
		clear(s.cache[i])
	}
	s.cache[i][key] = now
}

// authorize runs the check for a call and returns the context to serve it
// with.
func (s *ServerInterceptor) authorize(ctx context.Context, procedure, peer string, h http.Header, req connect.AnyRequest) (context.Context, error) {
	chk, err := s.cfg.Map(ctx, procedure, req)
	if err != nil {
		return nil, err
	}
	if chk.Public {
		return ctx, nil
	}
	if chk.Permission == "" || chk.Resource == "" {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("no permission is defined for this call"))
	}
	sub, err := s.subject(ctx, h)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	q := Question{Principal: sub.Member, Permission: chk.Permission, Resource: chk.Resource,
		ResourceAttributes: chk.ResourceAttributes, SourceIP: peerIP(peer)}
	// Only allows are cached: a deny is cheap to repeat and caching it
	// would delay a fresh grant. The source address is part of the key,
	// since conditions may depend on it.
	key := q.Principal + "\x00" + q.Permission + "\x00" + q.Resource + "\x00" + q.SourceIP
	if len(chk.ResourceAttributes) == 0 && s.cfg.CacheTTL > 0 && s.cached(key, now) {
		return WithSubject(ctx, sub), nil
	}
	var ok bool
	if len(chk.ResourceAttributes) == 0 {
		ok, err = s.decideShared(ctx, key, q)
	} else {
		ok, err = s.decide(ctx, q)
	}
	if err != nil {
		// Fail closed: without a fresh enough answer, nobody gets in.
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("authorization unavailable: %w", err))
	}
	if !ok {
		return nil, connect.NewError(connect.CodePermissionDenied,
			fmt.Errorf("%s lacks %s on %s", sub.Member, chk.Permission, chk.Resource))
	}
	if len(chk.ResourceAttributes) == 0 && s.cfg.CacheTTL > 0 {
		s.remember(key, now)
	}
	return WithSubject(ctx, sub), nil
}

func (s *ServerInterceptor) decide(ctx context.Context, q Question) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	return s.cfg.Decider.Authorize(cctx, q)
}

func peerIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// decideShared asks IAM once for all concurrent callers with the same
// question. The shared call is not cancelled by any one caller leaving;
// each caller still waits no longer than its own context allows.
func (s *ServerInterceptor) decideShared(ctx context.Context, key string, q Question) (bool, error) {
	s.inflightMu.Lock()
	p, ok := s.inflight[key]
	if !ok {
		p = &pending{done: make(chan struct{})}
		s.inflight[key] = p
		go func() {
			p.ok, p.err = s.decide(context.WithoutCancel(ctx), q)
			s.inflightMu.Lock()
			delete(s.inflight, key)
			s.inflightMu.Unlock()
			close(p.done)
		}()
	}
	s.inflightMu.Unlock()
	select {
	case <-p.done:
		return p.ok, p.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// WrapUnary checks unary calls.
func (s *ServerInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := s.authorize(ctx, req.Spec().Procedure, req.Peer().Addr, req.Header(), req)
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient leaves client streams alone.
func (s *ServerInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler checks streaming calls before the handler runs.
func (s *ServerInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := s.authorize(ctx, conn.Spec().Procedure, conn.Peer().Addr, conn.RequestHeader(), nil)
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
