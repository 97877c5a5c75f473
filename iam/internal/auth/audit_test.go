package auth

import (
	"context"
	"strings"
	"sync"
	"testing"
)

type sinkEvent struct{ principal, action, outcome, reason string }

type eventSink struct {
	mu     sync.Mutex
	events []sinkEvent
}

func (s *eventSink) AuthEvent(_ context.Context, principal, action, outcome, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, sinkEvent{principal, action, outcome, reason})
}

// Every login and token event reaches the audit sink with its outcome, and
// no event carries the password or a token.
func TestAuthEventsAudited(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	sink := &eventSink{}
	f.svc.cfg.Audit = sink
	f.addUser(t, "alice", "correct horse battery")
	_, _ = f.svc.Login(ctx, LoginRequest{Username: "alice", Password: "wrong horse", Source: "192.0.2.1:1"})
	ts, err := f.svc.Login(ctx, LoginRequest{Username: "alice", Password: "correct horse battery", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	next, err := f.svc.Refresh(ctx, ts.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.svc.Refresh(ctx, ts.RefreshToken) // reuse
	if err := f.svc.Revoke(ctx, next.AccessToken, ""); err != nil {
		t.Fatal(err)
	}
	want := []sinkEvent{
		{"user:alice", "iam.auth.login", "failure", ""},
		{"user:alice", "iam.auth.login", "success", ""},
		{"user:usr_alice", "iam.auth.refresh", "success", ""},
		{"", "iam.auth.refresh", "failure", "refresh token reuse detected; session revoked"},
		{"", "iam.auth.revoke", "success", ""},
	}
	if len(sink.events) != len(want) {
		t.Fatalf("events: %+v", sink.events)
	}
	for i, w := range want {
		g := sink.events[i]
		if g.principal != w.principal || g.action != w.action || g.outcome != w.outcome || (w.reason != "" && g.reason != w.reason) {
			t.Errorf("event %d = %+v, want %+v", i, g, w)
		}
		for _, secret := range []string{"horse", ts.RefreshToken, ts.AccessToken, next.AccessToken} {
			if strings.Contains(g.principal+g.reason, secret) {
				t.Errorf("event %d carries a secret: %+v", i, g)
			}
		}
	}
}
