package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/iam/internal/auth"
	"github.com/photoncloud/core/iam/internal/authz"
	"github.com/photoncloud/core/iam/internal/policy"
	"github.com/photoncloud/core/iam/internal/store"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// maxBatch bounds BatchAuthorize.
const maxBatch = 100

// callerTTL bounds how long a verified access token is remembered, which
// is also how long a revoked or disabled principal's token can keep asking
// for decisions. Verifying an Ed25519 signature costs more than a cached
// decision, so without this the decision rate would be the verify rate.
const callerTTL = 5 * time.Second

// Authz serves iam.v1.AuthzService.
type Authz struct {
	auth    *auth.Service
	az      *authz.Authorizer
	log     *slog.Logger
	callers *callerCache
}

var _ iamv1connect.AuthzServiceHandler = (*Authz)(nil)

// NewAuthz returns the AuthzService implementation.
func NewAuthz(svc *auth.Service, az *authz.Authorizer, log *slog.Logger) *Authz {
	return &Authz{auth: svc, az: az, log: log, callers: newCallerCache(svc, log)}
}

// callerCache remembers the principal behind recently verified tokens,
// keyed by the token's SHA-256 (the cache never holds a usable token). An
// entry lives until the earlier of callerTTL after verification and the
// token's expiry; failures are never cached.
type callerCache struct {
	verify func(ctx context.Context, h http.Header) (*auth.Principal, error)
	now    func() time.Time
	ttl    time.Duration
	mu     sync.Mutex
	m      map[[32]byte]cachedCaller
}

type cachedCaller struct {
	member  string
	expires time.Time
}

// maxCallers bounds the cache; past it the cache starts afresh.
const maxCallers = 100_000

func newCallerCache(svc *auth.Service, log *slog.Logger) *callerCache {
	verify := func(ctx context.Context, h http.Header) (*auth.Principal, error) {
		return authenticate(ctx, svc, log, h)
	}
	return &callerCache{verify: verify, now: time.Now, ttl: callerTTL, m: map[[32]byte]cachedCaller{}}
}

// member authenticates the bearer token of h and returns the caller's
// member string.
func (c *callerCache) member(ctx context.Context, h http.Header) (string, error) {
	tok, ok := bearer(h)
	if !ok || tok == "" {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("an access token is required"))
	}
	key := sha256.Sum256([]byte(tok))
	now := c.now()
	c.mu.Lock()
	hit, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(hit.expires) {
		return hit.member, nil
	}
	p, err := c.verify(ctx, h)
	if err != nil {
		return "", err
	}
	m := memberOf(p)
	exp := now.Add(c.ttl)
	if p.Claims != nil && p.Claims.ExpiresAt.Before(exp) {
		exp = p.Claims.ExpiresAt
	}
	c.mu.Lock()
	if len(c.m) >= maxCallers {
		clear(c.m)
	}
	c.m[key] = cachedCaller{member: m, expires: exp}
	c.mu.Unlock()
	return m, nil
}

func memberOf(p *auth.Principal) string {
	if p.Kind == store.KindServiceAccount {
		return policy.MemberServiceAccount + p.ID
	}
	return policy.MemberUser + p.ID
}

func peerIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// authzError maps authorization-layer errors to RPC codes.
func authzError(ctx context.Context, log *slog.Logger, err error) error {
	switch {
	case errors.Is(err, policy.ErrInvalid):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, authz.ErrPermissionDenied):
		return connect.NewError(connect.CodePermissionDenied, err)
	case errors.Is(err, authz.ErrFutureToken):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	}
	return toConnectError(ctx, log, err)
}

// query turns a request into an authorization query for caller. Asking
// about someone else needs trustPerm on the resource.
func (s *Authz) query(ctx context.Context, caller, peer string, m *iamv1.AuthorizeRequest, trustPerm string) (*authz.Query, error) {
	if m == nil {
		return nil, invalid("request is required")
	}
	minRev, err := authz.ParseToken(m.GetConsistencyToken())
	if err != nil {
		return nil, err
	}
	q := &authz.Query{
		Principal: m.GetPrincipal(), Permission: m.GetPermission(), Resource: m.GetResource(),
		SourceIP: m.GetSourceIp(), RequestAttrs: m.GetRequestAttributes(), ResourceAttrs: m.GetResourceAttributes(),
		MinRevision: minRev,
	}
	if q.Principal == "" || q.Principal == caller {
		q.Principal, q.SourceIP = caller, peerIP(peer)
		return q, nil
	}
	if err := policy.ValidateResource(q.Resource); err != nil {
		return nil, err
	}
	trust, _, err := s.az.Authorize(ctx, &authz.Query{Principal: caller, Permission: trustPerm, Resource: q.Resource,
		SourceIP: peerIP(peer), MinRevision: minRev})
	if err != nil {
		return nil, err
	}
	if !trust.Allowed {
		return nil, connect.NewError(connect.CodePermissionDenied,
			errors.New("asking about another principal needs "+trustPerm+" on the resource"))
	}
	return q, nil
}

func decisionPB(d policy.Decision, cached bool) *iamv1.AuthorizeResponse {
	return &iamv1.AuthorizeResponse{
		Allowed: d.Allowed, Reason: iamv1.Reason(d.Reason), BindingIds: d.BindingIDs, DenyPolicyIds: d.DenyIDs,
		ConsistencyToken: authz.Token(d.Revision), Cached: cached,
	}
}

func (s *Authz) authorizeOne(ctx context.Context, caller, peer string, m *iamv1.AuthorizeRequest) (*iamv1.AuthorizeResponse, error) {
	q, err := s.query(ctx, caller, peer, m, policy.PermAuthzCheck)
	if err != nil {
		return nil, err
	}
	d, cached, err := s.az.Authorize(ctx, q)
	if err != nil {
		return nil, err
	}
	return decisionPB(d, cached), nil
}

// Authorize decides one request.
func (s *Authz) Authorize(ctx context.Context, req *connect.Request[iamv1.AuthorizeRequest]) (*connect.Response[iamv1.AuthorizeResponse], error) {
	caller, err := s.callers.member(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	out, err := s.authorizeOne(ctx, caller, req.Peer().Addr, req.Msg)
	if err != nil {
		return nil, authzError(ctx, s.log, err)
	}
	return connect.NewResponse(out), nil
}

// BatchAuthorize decides up to maxBatch requests; one bad request fails
// the batch, so the caller never mistakes a missing answer for a denial.
func (s *Authz) BatchAuthorize(ctx context.Context, req *connect.Request[iamv1.BatchAuthorizeRequest]) (*connect.Response[iamv1.BatchAuthorizeResponse], error) {
	caller, err := s.callers.member(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	reqs := req.Msg.GetRequests()
	if len(reqs) == 0 || len(reqs) > maxBatch {
		return nil, invalid("requests must hold 1-%d requests", maxBatch)
	}
	out := &iamv1.BatchAuthorizeResponse{Responses: make([]*iamv1.AuthorizeResponse, len(reqs))}
	for i, m := range reqs {
		if out.Responses[i], err = s.authorizeOne(ctx, caller, req.Peer().Addr, m); err != nil {
			return nil, authzError(ctx, s.log, err)
		}
	}
	return connect.NewResponse(out), nil
}

var (
	kindPB = map[policy.Kind]iamv1.ExplainedPolicy_Kind{
		policy.KindBinding: iamv1.ExplainedPolicy_KIND_BINDING, policy.KindDeny: iamv1.ExplainedPolicy_KIND_DENY_POLICY,
	}
	condPB = map[policy.CondResult]iamv1.ExplainedPolicy_ConditionResult{
		policy.CondNone: iamv1.ExplainedPolicy_CONDITION_RESULT_NONE, policy.CondTrue: iamv1.ExplainedPolicy_CONDITION_RESULT_TRUE,
		policy.CondFalse: iamv1.ExplainedPolicy_CONDITION_RESULT_FALSE, policy.CondError: iamv1.ExplainedPolicy_CONDITION_RESULT_ERROR,
		policy.CondNotEvaluated: iamv1.ExplainedPolicy_CONDITION_RESULT_NOT_EVALUATED,
	}
)

// Explain decides one request without the cache and lists every policy
// considered. Principals may explain their own decisions ("why was I
// denied?") and then see the policies that name them; explaining
// another's, or seeing every policy, needs iam.authz.explain.
func (s *Authz) Explain(ctx context.Context, req *connect.Request[iamv1.ExplainRequest]) (*connect.Response[iamv1.ExplainResponse], error) {
	caller, err := s.callers.member(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	q, err := s.query(ctx, caller, req.Peer().Addr, req.Msg.GetRequest(), policy.PermAuthzExplain)
	if err != nil {
		return nil, authzError(ctx, s.log, err)
	}
	d, groups, err := s.az.Explain(ctx, q)
	if err != nil {
		return nil, authzError(ctx, s.log, err)
	}
	// Without iam.authz.explain, callers explaining themselves see only the
	// policies that name them: the rest (other principals' grants, possibly
	// in another organization) is not theirs to read.
	full := q.Principal != caller
	if !full {
		trust, _, err := s.az.Authorize(ctx, &authz.Query{Principal: caller, Permission: policy.PermAuthzExplain,
			Resource: q.Resource, SourceIP: q.SourceIP})
		if err != nil {
			return nil, authzError(ctx, s.log, err)
		}
		full = trust.Allowed
	}
	out := &iamv1.ExplainResponse{Decision: decisionPB(d, false), Groups: groups}
	for _, e := range d.Trace {
		if !full && !e.PrincipalMatched {
			continue
		}
		out.Policies = append(out.Policies, &iamv1.ExplainedPolicy{
			Kind: kindPB[e.Kind], Id: e.ID, Resource: e.Resource, Role: e.Role, PrincipalMatched: e.PrincipalMatched,
			PermissionMatched: e.PermissionMatched, Condition: condPB[e.Condition], Applied: e.Applied, Detail: e.Detail,
		})
	}
	return connect.NewResponse(out), nil
}
