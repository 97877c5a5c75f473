// Package authz runs IAM's authorization: it keeps the compiled policy
// index in step with the store, decides and explains requests (with a
// decision cache), and performs policy administration with the checks that
// make privilege escalation impossible. Transports (Connect handlers) are
// thin layers over Authorizer.
package authz

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/photoncloud/core/iam/internal/policy"
	"github.com/photoncloud/core/iam/internal/store"
)

// Errors. Transports map them to status codes.
var (
	// ErrInvalid wraps malformed requests.
	ErrInvalid = policy.ErrInvalid
	// ErrPermissionDenied: the caller may not do this.
	ErrPermissionDenied = errors.New("authz: permission denied")
	// ErrFutureToken: a consistency token newer than any policy write.
	ErrFutureToken = errors.New("authz: consistency token is newer than the policy store")
)

// Groups resolves a user's group ids.
type Groups interface {
	UserGroups(ctx context.Context, userID string) ([]string, error)
}

// DecisionRecorder receives every decision, for the audit log. The audit
// package decides which to keep (all denies; allows per its level).
type DecisionRecorder interface {
	RecordDecision(ctx context.Context, d DecisionRecord)
}

// DecisionRecord describes one decision.
type DecisionRecord struct {
	Time       time.Time
	Principal  string
	Permission string
	Resource   string
	Allowed    bool
	Reason     policy.Reason
	BindingIDs []string
	DenyIDs    []string
	SourceIP   string
	Cached     bool
}

type noRecorder struct{}

func (noRecorder) RecordDecision(context.Context, DecisionRecord) {}

// Config configures an Authorizer.
type Config struct {
	// CacheTTL bounds how stale a cached decision may be (default 5s);
	// negative disables the cache.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached decisions (default 100,000).
	CacheSize int
	// Now returns the time; time.Now when nil.
	Now   func() time.Time
	Meter metric.MeterProvider
	// Recorder receives decisions; none when nil.
	Recorder DecisionRecorder
}

// DefaultCacheTTL is the documented staleness bound of cached decisions.
const DefaultCacheTTL = 5 * time.Second

// Authorizer decides requests and administers policy.
type Authorizer struct {
	cfg    Config
	store  store.PolicyStore
	groups Groups
	conds  *policy.Conditions
	index  atomic.Pointer[policy.Index]
	// reloadMu serialises index rebuilds; writeMu policy writes.
	reloadMu    sync.Mutex
	writeMu     sync.Mutex
	fullReloads atomic.Int64 // for tests
	cache       *decisionCache
	metrics     *instruments
	recorder    atomic.Pointer[recorderBox]
}

// recorderBox lets the recorder be swapped atomically while serving.
type recorderBox struct{ r DecisionRecorder }

// New loads the policy and returns an Authorizer.
func New(ctx context.Context, cfg Config, ps store.PolicyStore, groups Groups) (*Authorizer, error) {
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	conds, err := policy.NewConditions()
	if err != nil {
		return nil, err
	}
	in, err := newInstruments(cfg.Meter)
	if err != nil {
		return nil, err
	}
	a := &Authorizer{cfg: cfg, store: ps, groups: groups, conds: conds, metrics: in}
	a.SetRecorder(cfg.Recorder)
	if cfg.CacheTTL > 0 {
		a.cache = newDecisionCache(cfg.CacheTTL, cfg.CacheSize)
	}
	if _, err := a.reload(ctx, 0); err != nil {
		return nil, err
	}
	return a, nil
}

// SetRecorder replaces the decision recorder (for wiring the audit log);
// nil records nothing. Safe while serving.
func (a *Authorizer) SetRecorder(r DecisionRecorder) {
	if r == nil {
		r = noRecorder{}
	}
	a.recorder.Store(&recorderBox{r})
}

// Conditions returns the CEL compiler (for validation).
func (a *Authorizer) Conditions() *policy.Conditions { return a.conds }

// Index returns the index in force.
func (a *Authorizer) Index() *policy.Index { return a.index.Load() }

// reload makes the index at least as fresh as minRev (0: whatever the
// store has now) and returns it.
func (a *Authorizer) reload(ctx context.Context, minRev uint64) (*policy.Index, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if ix := a.index.Load(); ix != nil && minRev != 0 && ix.Revision() >= minRev {
		return ix, nil
	}
	snap, err := a.store.PolicySnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: loading policy: %w", err)
	}
	ix := a.conds.Compile(snap)
	a.fullReloads.Add(1)
	if old := a.index.Load(); old == nil || old.Revision() < ix.Revision() {
		a.index.Store(ix)
		a.metrics.reloads.Add(ctx, 1)
	}
	ix = a.index.Load()
	if ix.Revision() < minRev {
		return nil, ErrFutureToken
	}
	return ix, nil
}

// Token renders a revision as a consistency token.
func Token(rev uint64) string { return strconv.FormatUint(rev, 10) }

// ParseToken reads a consistency token; "" is revision 0 (no constraint).
func ParseToken(tok string) (uint64, error) {
	if tok == "" {
		return 0, nil
	}
	rev, err := strconv.ParseUint(tok, 10, 64)
	if err != nil || len(tok) > 20 {
		return 0, fmt.Errorf("%w: malformed consistency token", ErrInvalid)
	}
	return rev, nil
}

// Query is one authorization question.
type Query struct {
	// Principal is a member string: user:<id> or serviceAccount:<id>.
	Principal     string
	Permission    string
	Resource      string
	SourceIP      string
	RequestAttrs  map[string]string
	ResourceAttrs map[string]string
	// MinRevision, when non-zero, requires policy at least this fresh and
	// bypasses the cache.
	MinRevision uint64
}

// Limits on query attributes.
const (
	maxAttrs     = 32
	maxAttrBytes = 256
)

func (q *Query) validate() error {
	if err := policy.ValidatePrincipal(q.Principal); err != nil {
		return err
	}
	if err := policy.ValidatePermission(q.Permission); err != nil {
		return err
	}
	if err := policy.ValidateResource(q.Resource); err != nil {
		return err
	}
	if len(q.SourceIP) > 64 {
		return fmt.Errorf("%w: source address too long", ErrInvalid)
	}
	for _, m := range []map[string]string{q.RequestAttrs, q.ResourceAttrs} {
		if len(m) > maxAttrs {
			return fmt.Errorf("%w: more than %d attributes", ErrInvalid, maxAttrs)
		}
		for k, v := range m {
			if len(k) > maxAttrBytes || len(v) > maxAttrBytes {
				return fmt.Errorf("%w: attribute longer than %d bytes", ErrInvalid, maxAttrBytes)
			}
		}
	}
	return nil
}

// groupsOf returns the groups of a principal (service accounts have none).
func (a *Authorizer) groupsOf(ctx context.Context, principal string) ([]string, error) {
	id, ok := strings.CutPrefix(principal, policy.MemberUser)
	if !ok {
		return nil, nil
	}
	gs, err := a.groups.UserGroups(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("authz: group lookup: %w", err)
	}
	return gs, nil
}

// indexFor returns an index at least as fresh as minRev. A full reload is
// the last resort (a write by another process): a token from the future
// must not let any caller make IAM rebuild its index at will.
func (a *Authorizer) indexFor(ctx context.Context, minRev uint64) (*policy.Index, error) {
	ix := a.index.Load()
	if minRev <= ix.Revision() {
		return ix, nil
	}
	// A write of ours may sit between its commit and its index update;
	// it advances the index before releasing writeMu.
	a.writeMu.Lock()
	ix = a.index.Load()
	a.writeMu.Unlock()
	if minRev <= ix.Revision() {
		return ix, nil
	}
	rev, err := a.store.PolicyRevision(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: reading policy revision: %w", err)
	}
	if rev < minRev {
		return nil, ErrFutureToken
	}
	return a.reload(ctx, minRev)
}

func (a *Authorizer) request(ctx context.Context, q *Query) (*policy.Request, error) {
	groups, err := a.groupsOf(ctx, q.Principal)
	if err != nil {
		return nil, err
	}
	return &policy.Request{
		Principal: q.Principal, Groups: groups, Permission: q.Permission, Resource: q.Resource,
		Time: a.cfg.Now().UTC(), SourceIP: q.SourceIP, RequestAttrs: q.RequestAttrs, ResourceAttrs: q.ResourceAttrs,
	}, nil
}

// Authorize decides q. cached reports whether the cache answered.
func (a *Authorizer) Authorize(ctx context.Context, q *Query) (dec policy.Decision, cached bool, err error) {
	start := time.Now()
	if err := q.validate(); err != nil {
		return dec, false, err
	}
	ix, err := a.indexFor(ctx, q.MinRevision)
	if err != nil {
		return dec, false, err
	}
	now := a.cfg.Now()
	useCache := a.cache != nil && q.MinRevision == 0
	key := ""
	if useCache {
		key = cacheKey(q.Principal, q.Permission, q.Resource)
		dec, cached = a.cache.get(key, ix.Revision(), now)
		a.metrics.lookup(ctx, cached)
	}
	if !cached {
		req, err := a.request(ctx, q)
		if err != nil {
			return dec, false, err
		}
		dec = ix.Decide(req)
		if a.cache != nil && !dec.Conditional {
			if key == "" {
				key = cacheKey(q.Principal, q.Permission, q.Resource)
			}
			a.cache.put(key, dec, now)
		}
	}
	a.metrics.decided(ctx, dec.Allowed, start)
	a.recorder.Load().r.RecordDecision(ctx, DecisionRecord{
		Time: now.UTC(), Principal: q.Principal, Permission: q.Permission, Resource: q.Resource,
		Allowed: dec.Allowed, Reason: dec.Reason, BindingIDs: dec.BindingIDs, DenyIDs: dec.DenyIDs,
		SourceIP: q.SourceIP, Cached: cached,
	})
	return dec, cached, nil
}

// Explain decides q without the cache, tracing every policy considered. It
// also returns the principal's groups.
func (a *Authorizer) Explain(ctx context.Context, q *Query) (policy.Decision, []string, error) {
	if err := q.validate(); err != nil {
		return policy.Decision{}, nil, err
	}
	ix, err := a.indexFor(ctx, q.MinRevision)
	if err != nil {
		return policy.Decision{}, nil, err
	}
	req, err := a.request(ctx, q)
	if err != nil {
		return policy.Decision{}, nil, err
	}
	return ix.Explain(req), req.Groups, nil
}
