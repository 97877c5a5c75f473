package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/iam/internal/iamtest"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
)

func TestAuthorizeOverRPC(t *testing.T) {
	e := iamtest.Start(t)
	ctx := context.Background()
	alice, aid, asec := e.ServiceAccount("alice")
	bob, _, _ := e.ServiceAccount("bob")
	tok := e.Token(aid, asec)
	b, _ := e.Bind("orgs/acme/projects/p", "roles/flaredb.editor", alice)

	ask := func(m *iamv1.AuthorizeRequest) (*iamv1.AuthorizeResponse, error) {
		resp, err := e.Authz.Authorize(ctx, iamtest.Authed(tok, m))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
	q := &iamv1.AuthorizeRequest{Permission: "flaredb.kv.write", Resource: "orgs/acme/projects/p/flaredb/kv/k"}
	for i := range 2 {
		r, err := ask(q)
		if err != nil || !r.GetAllowed() || r.GetReason() != iamv1.Reason_REASON_ALLOWED || r.GetBindingIds()[0] != b.GetId() {
			t.Fatalf("ask %d: %v %v", i, r, err)
		}
		if i == 1 && !r.GetCached() {
			t.Fatal("second identical question was not served from the cache")
		}
	}

	// Consistency: revoke, then ask with the revocation's token.
	del, err := e.Policy.DeleteBinding(ctx, iamtest.Authed(e.Admin, &iamv1.DeleteBindingRequest{Id: b.GetId()}))
	if err != nil {
		t.Fatal(err)
	}
	q.ConsistencyToken = del.Msg.GetConsistencyToken()
	if r, err := ask(q); err != nil || r.GetAllowed() || r.GetReason() != iamv1.Reason_REASON_NO_MATCHING_BINDING {
		t.Fatalf("after revoke with token: %v %v", r, err)
	}

	// Asking about someone else needs iam.authz.check.
	if _, err := ask(&iamv1.AuthorizeRequest{Principal: bob, Permission: "flaredb.kv.read", Resource: "orgs/acme"}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("untrusted caller asking about bob: %v", err)
	}
	_, tokRev := e.Bind("orgs/acme", "roles/iam.authorizer", alice)
	if r, err := ask(&iamv1.AuthorizeRequest{Principal: bob, Permission: "flaredb.kv.read", Resource: "orgs/acme", ConsistencyToken: tokRev}); err != nil || r.GetAllowed() {
		t.Fatalf("trusted caller asking about bob: %v %v", r, err)
	}

	// Bad input is INVALID_ARGUMENT, never a decision.
	for _, bad := range []*iamv1.AuthorizeRequest{
		{Permission: "flaredb.kv", Resource: "orgs/acme"},
		{Permission: "flaredb.kv.*", Resource: "orgs/acme"},
		{Permission: "flaredb.kv.read", Resource: "/etc"},
		{Permission: "flaredb.kv.read", Resource: "orgs/acme", ConsistencyToken: "x"},
		{Principal: "group:g", Permission: "flaredb.kv.read", Resource: "orgs/acme"},
	} {
		if _, err := ask(bad); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%v: %v", bad, err)
		}
	}
	if _, err := ask(&iamv1.AuthorizeRequest{Permission: "flaredb.kv.read", Resource: "orgs/acme", ConsistencyToken: "99999"}); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("future token: %v", err)
	}
	if _, err := e.Authz.Authorize(ctx, connect.NewRequest(q)); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("no token: %v", err)
	}

	// Batch and explain.
	batch, err := e.Authz.BatchAuthorize(ctx, iamtest.Authed(tok, &iamv1.BatchAuthorizeRequest{Requests: []*iamv1.AuthorizeRequest{
		{Permission: "iam.authz.check", Resource: "orgs/acme/projects/p"}, {Permission: "flaredb.kv.write", Resource: "orgs/acme"},
	}}))
	if err != nil || !batch.Msg.GetResponses()[0].GetAllowed() || batch.Msg.GetResponses()[1].GetAllowed() {
		t.Fatalf("batch: %v %v", batch, err)
	}
	tooMany := make([]*iamv1.AuthorizeRequest, 101)
	for i := range tooMany {
		tooMany[i] = &iamv1.AuthorizeRequest{Permission: "flaredb.kv.read", Resource: "orgs/acme"}
	}
	if _, err := e.Authz.BatchAuthorize(ctx, iamtest.Authed(tok, &iamv1.BatchAuthorizeRequest{Requests: tooMany})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("101-request batch: %v", err)
	}
	ex, err := e.Authz.Explain(ctx, iamtest.Authed(tok, &iamv1.ExplainRequest{Request: &iamv1.AuthorizeRequest{
		Permission: "flaredb.kv.write", Resource: "orgs/acme/projects/p"}}))
	if err != nil || ex.Msg.GetDecision().GetAllowed() || len(ex.Msg.GetPolicies()) < 1 {
		t.Fatalf("explain: %v %v", ex, err)
	}
	// Explaining herself, alice sees only policies naming her: not bob's
	// grant in another organization, which the administrator sees.
	e.Bind("orgs/other", "roles/flaredb.admin", bob)
	otherQ := &iamv1.ExplainRequest{Request: &iamv1.AuthorizeRequest{Permission: "flaredb.kv.write", Resource: "orgs/other/projects/x"}}
	mine, err := e.Authz.Explain(ctx, iamtest.Authed(tok, otherQ))
	if err != nil || len(mine.Msg.GetPolicies()) != 0 || mine.Msg.GetDecision().GetAllowed() {
		t.Fatalf("self-explain in another org leaked: %v %v", mine, err)
	}
	otherQ.Request.Principal = alice
	all, err := e.Authz.Explain(ctx, iamtest.Authed(e.Admin, otherQ))
	if err != nil || len(all.Msg.GetPolicies()) < 2 {
		t.Fatalf("admin explain: %v %v", all, err)
	}
	for _, p := range ex.Msg.GetPolicies() {
		if p.GetApplied() || p.GetDetail() == "" {
			t.Errorf("explained policy %v", p)
		}
	}
}

func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAuthzMetrics(t *testing.T) {
	e := iamtest.Start(t)
	ctx := context.Background()
	alice, aid, asec := e.ServiceAccount("alice")
	tok := e.Token(aid, asec)
	e.Bind("orgs/acme", "roles/flaredb.viewer", alice)
	for _, perm := range []string{"flaredb.kv.read", "flaredb.kv.read", "flaredb.kv.write"} {
		if _, err := e.Authz.Authorize(ctx, iamtest.Authed(tok, &iamv1.AuthorizeRequest{Permission: perm, Resource: "orgs/acme"})); err != nil {
			t.Fatal(err)
		}
	}
	m := metricsText(t, e.Base)
	for _, want := range []string{
		`iam_authz_decisions_total{otel_scope_name="github.com/photoncloud/core/iam/internal/authz",otel_scope_schema_url="",otel_scope_version="",outcome="allow"} 2`,
		`iam_authz_decisions_total{otel_scope_name="github.com/photoncloud/core/iam/internal/authz",otel_scope_schema_url="",otel_scope_version="",outcome="deny"} 1`,
		`result="hit"} 1`,
		`iam_authz_decision_duration_seconds_bucket`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestPolicyAdminOverRPC(t *testing.T) {
	e := iamtest.Start(t)
	ctx := context.Background()
	alice, aid, asec := e.ServiceAccount("alice")
	tok := e.Token(aid, asec)
	e.Bind("orgs/acme", "roles/iam.editor", alice)
	e.Bind("orgs/acme", "roles/flaredb.viewer", alice)
	_, err := e.Policy.CreateBinding(ctx, iamtest.Authed(tok, &iamv1.CreateBindingRequest{Binding: &iamv1.Binding{
		Resource: "orgs/acme/projects/p", Role: "roles/flaredb.editor", Members: []string{alice}}}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("escalating grant: %v", err)
	}
	resp, err := e.Policy.CreateBinding(ctx, iamtest.Authed(tok, &iamv1.CreateBindingRequest{Binding: &iamv1.Binding{
		Resource: "orgs/acme/projects/p", Role: "roles/flaredb.viewer", Members: []string{"user:someone"},
		Condition: &iamv1.Condition{Expression: `request.time < timestamp("2100-01-01T00:00:00Z")`}}}))
	if err != nil || resp.Msg.GetConsistencyToken() == "" || resp.Msg.GetBinding().GetEtag() == "" {
		t.Fatalf("allowed grant: %v %v", resp, err)
	}
	list, err := e.Policy.ListBindings(ctx, iamtest.Authed(tok, &iamv1.ListBindingsRequest{Resource: "orgs/acme/projects/p"}))
	if err != nil || len(list.Msg.GetBindings()) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if _, err := e.Policy.ListBindings(ctx, iamtest.Authed(tok, &iamv1.ListBindingsRequest{Resource: "orgs/other"})); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("list other org: %v", err)
	}
	b := resp.Msg.GetBinding()
	b.Members = []string{"user:someone-else"}
	if _, err := e.Policy.UpdateBinding(ctx, iamtest.Authed(tok, &iamv1.UpdateBindingRequest{Binding: b, Etag: "12345"})); connect.CodeOf(err) != connect.CodeAborted {
		t.Fatalf("stale etag: %v", err)
	}
	if _, err := e.Policy.CreateBinding(ctx, iamtest.Authed(tok, &iamv1.CreateBindingRequest{Binding: &iamv1.Binding{
		Resource: "orgs/acme", Role: "roles/flaredb.viewer", Members: []string{"user:x"},
		Condition: &iamv1.Condition{Expression: `request.time`}}})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("non-bool condition: %v", err)
	}
	roles, err := e.Policy.ListRoles(ctx, iamtest.Authed(tok, &iamv1.ListRolesRequest{Parent: "orgs/acme"}))
	if err != nil || len(roles.Msg.GetRoles()) < 10 {
		t.Fatalf("roles: %v", err)
	}
}

// TestRevokedCallerStopsWithinBound: IAM remembers verified caller tokens
// for callerTTL (5s); a revoked access token must be refused within that
// bound of the revocation, and at once when it was never remembered.
func TestRevokedCallerStopsWithinBound(t *testing.T) {
	e := iamtest.Start(t)
	ctx := context.Background()
	alice, aid, asec := e.ServiceAccount("alice")
	e.Bind("orgs/acme", "roles/flaredb.viewer", alice)
	q := &iamv1.AuthorizeRequest{Permission: "flaredb.kv.read", Resource: "orgs/acme"}
	ask := func(tok string) error {
		_, err := e.Authz.Authorize(ctx, iamtest.Authed(tok, q))
		return err
	}
	revoke := func(tok string) {
		if _, err := e.Auth.Revoke(ctx, iamtest.Authed(tok, &iamv1.RevokeRequest{Token: tok, TokenTypeHint: "access_token"})); err != nil {
			t.Fatal(err)
		}
	}

	fresh := e.Token(aid, asec)
	revoke(fresh)
	if err := ask(fresh); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("revoked token never used before: %v", err)
	}

	tok := e.Token(aid, asec)
	if err := ask(tok); err != nil {
		t.Fatal(err)
	}
	revoke(tok)
	revoked := time.Now()
	for {
		err := ask(tok)
		if connect.CodeOf(err) == connect.CodeUnauthenticated {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(revoked) > 5*time.Second+time.Second {
			t.Fatalf("revoked token still accepted %v after the revocation", time.Since(revoked))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
