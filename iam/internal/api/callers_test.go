package api

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/iam/internal/auth"
	"github.com/photoncloud/core/iam/internal/store"
	"github.com/photoncloud/core/iam/internal/token"
)

// fakeVerifier stands for auth.Service.Authenticate: tokens it knows are
// valid until revoked, and each carries an expiry.
type fakeVerifier struct {
	mu      sync.Mutex
	expires map[string]time.Time
	revoked map[string]bool
	calls   int
	now     func() time.Time
}

func (f *fakeVerifier) verify(_ context.Context, h http.Header) (*auth.Principal, error) {
	tok, _ := bearer(h)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	exp, ok := f.expires[tok]
	if !ok || f.revoked[tok] || !f.now().Before(exp) {
		return nil, connect.NewError(connect.CodeUnauthenticated, auth.ErrUnauthenticated)
	}
	return &auth.Principal{Kind: store.KindServiceAccount, ID: "sa_" + tok, Claims: &token.Claims{ExpiresAt: exp}}, nil
}

func (f *fakeVerifier) revoke(tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[tok] = true
}

func header(tok string) http.Header {
	return http.Header{"Authorization": []string{"Bearer " + tok}}
}

// TestCallerCacheBound: a revoked token keeps working for at most the
// cache's TTL after it was verified, an expiring token stops exactly at
// its expiry, failures are not cached, and distinct tokens never share an
// entry.
func TestCallerCacheBound(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	f := &fakeVerifier{now: clock, revoked: map[string]bool{}, expires: map[string]time.Time{
		"long": t0.Add(time.Hour), "short": t0.Add(2 * time.Second), "other": t0.Add(time.Hour),
	}}
	c := &callerCache{verify: f.verify, now: clock, ttl: callerTTL, m: map[[32]byte]cachedCaller{}}
	ctx := context.Background()
	member := func(tok string) (string, error) { return c.member(ctx, header(tok)) }

	if m, err := member("long"); err != nil || m != "serviceAccount:sa_long" {
		t.Fatalf("first call: %q %v", m, err)
	}
	if m, err := member("other"); err != nil || m != "serviceAccount:sa_other" {
		t.Fatalf("another token: %q %v", m, err)
	}
	calls := f.calls
	f.revoke("long")
	// Within the bound the cached verification answers (no new verify).
	now = t0.Add(callerTTL - time.Millisecond)
	if _, err := member("long"); err != nil || f.calls != calls {
		t.Fatalf("within %v of verification: %v (verify calls %d -> %d)", callerTTL, err, calls, f.calls)
	}
	// At the bound the token is verified again and refused.
	now = t0.Add(callerTTL)
	if _, err := member("long"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("revoked token %v after verification: %v", callerTTL, err)
	}
	// A refusal is not cached either way: it is asked again every time.
	calls = f.calls
	if _, err := member("long"); connect.CodeOf(err) != connect.CodeUnauthenticated || f.calls != calls+1 {
		t.Fatalf("second call with a revoked token: %v, verify calls %d -> %d", err, calls, f.calls)
	}

	// A token expiring before the TTL is cached only until its expiry.
	now = t0
	if _, err := member("short"); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(2*time.Second - time.Nanosecond)
	if _, err := member("short"); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	now = t0.Add(2 * time.Second)
	if _, err := member("short"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("at expiry: %v", err)
	}

	// Unknown and missing tokens are refused.
	if _, err := member("forged"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("unknown token: %v", err)
	}
	if _, err := c.member(ctx, http.Header{}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("no token: %v", err)
	}
}

// TestCallerCacheConcurrent exercises the cache from many goroutines (run
// with -race), including the reset when it is full.
func TestCallerCacheConcurrent(t *testing.T) {
	now := time.Now()
	f := &fakeVerifier{now: func() time.Time { return now }, revoked: map[string]bool{}, expires: map[string]time.Time{}}
	toks := []string{"a", "b", "c", "d"}
	for _, tok := range toks {
		f.expires[tok] = now.Add(time.Hour)
	}
	c := &callerCache{verify: f.verify, now: func() time.Time { return now }, ttl: callerTTL, m: map[[32]byte]cachedCaller{}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				tok := toks[(g+i)%len(toks)]
				m, err := c.member(context.Background(), header(tok))
				if err == nil && m != "serviceAccount:sa_"+tok {
					err = errors.New("wrong member " + m + " for " + tok)
				}
				if err != nil {
					errs <- err
					return
				}
				if i%100 == 0 {
					c.mu.Lock()
					clear(c.m)
					c.mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
