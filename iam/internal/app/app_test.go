package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/photoncloud/core/iam/internal/password"
	"github.com/photoncloud/core/iam/internal/totp"
	"github.com/photoncloud/core/pkg/servertest"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

const adminPassword = "bootstrap admin secret"

// testOptions keep Argon2id cheap under the race detector.
var testOptions = options{hasher: password.Options{
	Params:          password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	AllowWeakParams: true,
}}

type env struct {
	base     string
	identity iamv1connect.IdentityServiceClient
	auth     iamv1connect.AuthServiceClient
	admin    string // admin access token
}

func start(t *testing.T) *env {
	t.Helper()
	addr := servertest.FreeAddr(t)
	base := "http://" + addr
	servertest.RunCommand(t, command("test", "test", testOptions), addr,
		"--listen-addr", addr, "--data-dir", t.TempDir(), "--issuer", base,
		"--bootstrap-admin-password", adminPassword)
	servertest.WaitReady(t, addr)
	e := &env{
		base:     base,
		identity: iamv1connect.NewIdentityServiceClient(http.DefaultClient, base),
		auth:     iamv1connect.NewAuthServiceClient(http.DefaultClient, base),
	}
	resp, err := e.auth.Login(context.Background(), connect.NewRequest(&iamv1.LoginRequest{Username: "admin", Password: adminPassword}))
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	e.admin = resp.Msg.GetTokens().GetAccessToken()
	return e
}

func authed[T any](tok string, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set("Authorization", "Bearer "+tok)
	return r
}

// TestPlumbing starts the real command in-process and holds it to the
// contract every PhotonCloud server shares (health, readiness, metrics,
// reflection, Connect and gRPC, unknown methods, size limits).
func TestPlumbing(t *testing.T) {
	addr := servertest.FreeAddr(t)
	servertest.RunCommand(t, command("test", "test", testOptions), addr, "--listen-addr", addr, "--data-dir", t.TempDir())
	servertest.CheckPlumbing(t, addr, "iam", iamv1connect.IdentityServiceName, iamv1connect.AuthServiceName)
}

// createServiceAccountKey makes a service account with one key through the
// API and returns its client credentials.
func createServiceAccountKey(t *testing.T, e *env, name string) (clientID, secret string) {
	t.Helper()
	ctx := context.Background()
	sa, err := e.identity.CreateServiceAccount(ctx, authed(e.admin, &iamv1.CreateServiceAccountRequest{Name: name}))
	if err != nil {
		t.Fatalf("CreateServiceAccount: %v", err)
	}
	key, err := e.identity.CreateServiceAccountKey(ctx, authed(e.admin, &iamv1.CreateServiceAccountKeyRequest{
		ServiceAccountId: sa.Msg.GetServiceAccount().GetId(),
	}))
	if err != nil {
		t.Fatalf("CreateServiceAccountKey: %v", err)
	}
	return key.Msg.GetClientId(), key.Msg.GetClientSecret()
}

// TestStandardClients: golang.org/x/oauth2's client-credentials flow gets a
// token, and go-oidc discovers the issuer and verifies it through the JWKS.
func TestStandardClients(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	id, secret := createServiceAccountKey(t, e, "ci-runner")

	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"basic", oauth2.AuthStyleInHeader}, {"post", oauth2.AuthStyleInParams}} {
		t.Run(style.name, func(t *testing.T) {
			cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.base + "/oauth2/token",
				Scopes: []string{"read"}, AuthStyle: style.style}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("clientcredentials Token: %v", err)
			}
			provider, err := oidc.NewProvider(ctx, e.base)
			if err != nil {
				t.Fatalf("oidc discovery: %v", err)
			}
			verifier := provider.Verifier(&oidc.Config{ClientID: "photoncloud", SupportedSigningAlgs: []string{oidc.EdDSA}})
			idt, err := verifier.Verify(ctx, tok.AccessToken)
			if err != nil {
				t.Fatalf("go-oidc Verify: %v", err)
			}
			if idt.Subject != id || idt.Issuer != e.base {
				t.Fatalf("verified token: sub %q iss %q", idt.Subject, idt.Issuer)
			}
			// The token also authenticates against IAM's own RPCs.
			who, err := e.auth.WhoAmI(ctx, authed(tok.AccessToken, &iamv1.WhoAmIRequest{}))
			if err != nil || who.Msg.GetName() != "ci-runner" || who.Msg.GetPrincipalKind() != "service_account" {
				t.Fatalf("WhoAmI = %v, %v", who, err)
			}
		})
	}

	// A wrong secret is an RFC 6749 invalid_client with 401.
	bad := clientcredentials.Config{ClientID: id, ClientSecret: secret + "x", TokenURL: e.base + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
	if _, err := bad.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong secret: err = %v", err)
	}
}

func postForm(t *testing.T, u string, form url.Values, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("POST %s: non-JSON body %q", u, body)
		}
	}
	return resp.StatusCode, out
}

// TestRefreshOverHTTP: rotation, reuse revoking the family and 20
// concurrent refreshes of one token through /oauth2/token.
func TestRefreshOverHTTP(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	login := func() *iamv1.TokenSet {
		resp, err := e.auth.Login(ctx, connect.NewRequest(&iamv1.LoginRequest{Username: "admin", Password: adminPassword}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.GetTokens()
	}
	refresh := func(rt string) (int, map[string]any) {
		return postForm(t, e.base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, nil)
	}

	first := login()
	code, body := refresh(first.GetRefreshToken())
	if code != http.StatusOK || body["refresh_token"] == "" || body["token_type"] != "Bearer" {
		t.Fatalf("refresh: %d %v", code, body)
	}
	second := body["refresh_token"].(string)
	code, body = refresh(first.GetRefreshToken())
	if code != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v; want 400 invalid_grant", code, body)
	}
	if code, body = refresh(second); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("successor after reuse: %d %v; want the family revoked", code, body)
	}

	shared := login().GetRefreshToken()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 20 {
		wg.Go(func() {
			c, _ := refresh(shared)
			mu.Lock()
			codes[c]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusOK] != 1 || codes[http.StatusBadRequest] != 19 {
		t.Fatalf("concurrent refresh status counts %v; want exactly one 200", codes)
	}

	resp, err := http.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`iam_logins_total{`, `outcome="success"`, `iam_refresh_reuse_detected_total{`,
		`iam_tokens_issued_total{`, `grant="refresh_token"`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestOAuthEndpointErrors(t *testing.T) {
	e := start(t)
	id, secret := createServiceAccountKey(t, e, "prober")
	tokenURL := e.base + "/oauth2/token"
	for _, c := range []struct {
		name   string
		form   url.Values
		hdr    map[string]string
		status int
		code   string
	}{
		{"no grant type", url.Values{}, nil, 400, "invalid_request"},
		{"unsupported grant", url.Values{"grant_type": {"password"}}, nil, 400, "unsupported_grant_type"},
		{"client credentials without client", url.Values{"grant_type": {"client_credentials"}}, nil, 401, "invalid_client"},
		{"refresh without token", url.Values{"grant_type": {"refresh_token"}}, nil, 400, "invalid_request"},
		{"garbage refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, nil, 400, "invalid_grant"},
		{"repeated parameter", url.Values{"grant_type": {"refresh_token", "client_credentials"}}, nil, 400, "invalid_request"},
		{"oversized parameter", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {strings.Repeat("a", 5000)}}, nil, 400, "invalid_request"},
		{"two auth methods", url.Values{"grant_type": {"client_credentials"}, "client_secret": {secret}},
			map[string]string{"Authorization": "Basic " + basic(id, secret)}, 400, "invalid_request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := postForm(t, tokenURL, c.form, c.hdr)
			if status != c.status || body["error"] != c.code {
				t.Fatalf("got %d %v; want %d %s", status, body, c.status, c.code)
			}
		})
	}
	t.Run("not a form", func(t *testing.T) {
		resp, err := http.Post(tokenURL, "application/json", strings.NewReader(`{"grant_type":"client_credentials"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		resp, err := http.Post(tokenURL, "application/x-www-form-urlencoded", strings.NewReader("a="+strings.Repeat("b", 64<<10)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("revoke unknown token is 200", func(t *testing.T) {
		if status, _ := postForm(t, e.base+"/oauth2/revoke", url.Values{"token": {"unknown"}}, nil); status != 200 {
			t.Fatalf("status %d", status)
		}
	})
	t.Run("introspect requires authentication", func(t *testing.T) {
		status, body := postForm(t, e.base+"/oauth2/introspect", url.Values{"token": {"x"}}, nil)
		if status != 401 || body["error"] != "invalid_client" {
			t.Fatalf("got %d %v", status, body)
		}
	})
	t.Run("introspect", func(t *testing.T) {
		hdr := map[string]string{"Authorization": "Basic " + basic(id, secret)}
		status, body := postForm(t, e.base+"/oauth2/introspect", url.Values{"token": {"garbage"}}, hdr)
		if status != 200 || body["active"] != false || len(body) != 1 {
			t.Fatalf("garbage token: %d %v; want {active:false}", status, body)
		}
		status, body = postForm(t, e.base+"/oauth2/introspect", url.Values{"token": {e.admin}}, hdr)
		if status != 200 || body["active"] != true || body["username"] != "admin" || body["token_type"] != "access_token" {
			t.Fatalf("admin token: %d %v", status, body)
		}
		// Revoke it over RFC 7009, then it is inactive.
		if status, _ := postForm(t, e.base+"/oauth2/revoke", url.Values{"token": {e.admin}}, nil); status != 200 {
			t.Fatalf("revoke status %d", status)
		}
		status, body = postForm(t, e.base+"/oauth2/introspect", url.Values{"token": {e.admin}}, hdr)
		if status != 200 || body["active"] != false {
			t.Fatalf("revoked token: %d %v", status, body)
		}
	})
}

func basic(id, secret string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// TestLoginFailuresIdentical: an unknown user and a wrong password get
// byte-identical answers.
func TestLoginFailuresIdentical(t *testing.T) {
	e := start(t)
	post := func(body string) (int, string) {
		resp, err := http.Post(e.base+iamv1connect.AuthServiceLoginProcedure, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	s1, b1 := post(`{"username":"nobody","password":"some password"}`)
	s2, b2 := post(`{"username":"admin","password":"some password"}`)
	if s1 != s2 || b1 != b2 || s1 != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d %s\nwrong password: %d %s", s1, b1, s2, b2)
	}
}

// TestIdentityBadInput: malformed and invalid requests fail clearly and
// store nothing.
func TestIdentityBadInput(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	count := func() int {
		resp, err := e.identity.ListUsers(ctx, authed(e.admin, &iamv1.ListUsersRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Msg.GetUsers())
	}
	before := count()
	for name, req := range map[string]*iamv1.CreateUserRequest{
		"invalid name":      {Name: "Bad Name", Password: "a fine password"},
		"name too long":     {Name: "a" + strings.Repeat("b", 63), Password: "a fine password"},
		"display too long":  {Name: "okname", DisplayName: strings.Repeat("x", 257), Password: "a fine password"},
		"control character": {Name: "okname", DisplayName: "a\x00b", Password: "a fine password"},
		"bad email":         {Name: "okname", Email: "not an email", Password: "a fine password"},
		"short password":    {Name: "okname", Password: "short"},
		"common password":   {Name: "okname", Password: "password123"},
	} {
		_, err := e.identity.CreateUser(ctx, authed(e.admin, req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: err = %v; want invalid_argument", name, err)
		}
	}
	for _, body := range []string{`{"name":`, `{"name": 5}`, `not json`} {
		req, _ := http.NewRequest(http.MethodPost, e.base+iamv1connect.IdentityServiceCreateUserProcedure, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "invalid_argument") {
			t.Errorf("malformed JSON %q: %d %s", body, resp.StatusCode, b)
		}
	}
	if after := count(); after != before {
		t.Fatalf("bad input stored users: %d before, %d after", before, after)
	}
	if _, err := e.identity.CreateServiceAccount(ctx, authed(e.admin, &iamv1.CreateServiceAccountRequest{Name: "-bad"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("invalid service account name: %v", err)
	}
	if _, err := e.identity.CreateGroup(ctx, authed(e.admin, &iamv1.CreateGroupRequest{Name: "ok", Description: strings.Repeat("d", 1025)})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("oversized group description: %v", err)
	}
	if _, err := e.identity.CreateServiceAccountKey(ctx, authed(e.admin, &iamv1.CreateServiceAccountKeyRequest{ServiceAccountId: "sa_missing"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("key for a missing service account: %v", err)
	}
	sas, err := e.identity.ListServiceAccounts(ctx, authed(e.admin, &iamv1.ListServiceAccountsRequest{}))
	if err != nil || len(sas.Msg.GetServiceAccounts()) != 0 {
		t.Errorf("bad input stored service accounts: %v %v", sas, err)
	}
	groups, err := e.identity.ListGroups(ctx, authed(e.admin, &iamv1.ListGroupsRequest{Filter: "name=ok"}))
	if err != nil || len(groups.Msg.GetGroups()) != 0 {
		t.Errorf("bad input stored groups: %v %v", groups, err)
	}
	// Without an admin token nothing is allowed.
	_, err = e.identity.CreateUser(ctx, connect.NewRequest(&iamv1.CreateUserRequest{Name: "okname", Password: "a fine password"}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("no token: %v", err)
	}
}

// TestIdentityLifecycle covers create, etags, pagination, groups, disable.
func TestIdentityLifecycle(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	var ids []string
	for _, n := range []string{"user-a", "user-b", "user-c", "other"} {
		resp, err := e.identity.CreateUser(ctx, authed(e.admin, &iamv1.CreateUserRequest{Name: n, Password: "a fine password"}))
		if err != nil {
			t.Fatalf("CreateUser %s: %v", n, err)
		}
		ids = append(ids, resp.Msg.GetUser().GetId())
	}
	if _, err := e.identity.CreateUser(ctx, authed(e.admin, &iamv1.CreateUserRequest{Name: "user-a", Password: "a fine password"})); connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("duplicate name: %v", err)
	}
	// Pagination with a filter.
	var names []string
	tok := ""
	for {
		resp, err := e.identity.ListUsers(ctx, authed(e.admin, &iamv1.ListUsersRequest{PageSize: 2, PageToken: tok, Filter: "name=user-*"}))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range resp.Msg.GetUsers() {
			names = append(names, u.GetName())
		}
		if tok = resp.Msg.GetNextPageToken(); tok == "" {
			break
		}
		// A token is bound to its filter.
		if _, err := e.identity.ListUsers(ctx, authed(e.admin, &iamv1.ListUsersRequest{PageToken: tok})); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("token reused with another filter: %v", err)
		}
	}
	if strings.Join(names, ",") != "user-a,user-b,user-c" {
		t.Fatalf("paged names = %v", names)
	}
	if _, err := e.identity.ListUsers(ctx, authed(e.admin, &iamv1.ListUsersRequest{Filter: "colour=red"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("bad filter: %v", err)
	}

	// Etags: a stale etag is refused.
	got, err := e.identity.GetUser(ctx, authed(e.admin, &iamv1.GetUserRequest{Id: ids[0]}))
	if err != nil {
		t.Fatal(err)
	}
	etag := got.Msg.GetUser().GetEtag()
	dn := "User A"
	if _, err := e.identity.UpdateUser(ctx, authed(e.admin, &iamv1.UpdateUserRequest{Id: ids[0], Etag: etag, DisplayName: &dn})); err != nil {
		t.Fatal(err)
	}
	if _, err := e.identity.DisableUser(ctx, authed(e.admin, &iamv1.DisableUserRequest{Id: ids[0], Etag: etag})); connect.CodeOf(err) != connect.CodeAborted {
		t.Fatalf("stale etag: %v", err)
	}

	// Groups and membership.
	g, err := e.identity.CreateGroup(ctx, authed(e.admin, &iamv1.CreateGroupRequest{Name: "devs"}))
	if err != nil {
		t.Fatal(err)
	}
	gid := g.Msg.GetGroup().GetId()
	added, err := e.identity.AddGroupMember(ctx, authed(e.admin, &iamv1.AddGroupMemberRequest{GroupId: gid, UserId: ids[1]}))
	if err != nil || added.Msg.GetGroup().GetMemberCount() != 1 {
		t.Fatalf("AddGroupMember: %v %v", added, err)
	}
	if _, err := e.identity.AddGroupMember(ctx, authed(e.admin, &iamv1.AddGroupMemberRequest{GroupId: gid, UserId: "usr_missing"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("add missing user: %v", err)
	}
	members, err := e.identity.ListGroupMembers(ctx, authed(e.admin, &iamv1.ListGroupMembersRequest{GroupId: gid}))
	if err != nil || len(members.Msg.GetUsers()) != 1 || members.Msg.GetUsers()[0].GetId() != ids[1] {
		t.Fatalf("ListGroupMembers: %v %v", members, err)
	}
	if _, err := e.identity.DeleteUser(ctx, authed(e.admin, &iamv1.DeleteUserRequest{Id: ids[1]})); err != nil {
		t.Fatal(err)
	}
	g2, err := e.identity.GetGroup(ctx, authed(e.admin, &iamv1.GetGroupRequest{Id: gid}))
	if err != nil || g2.Msg.GetGroup().GetMemberCount() != 0 {
		t.Fatalf("membership survived user deletion: %v %v", g2, err)
	}

	// A non-admin user cannot administer.
	login, err := e.auth.Login(ctx, connect.NewRequest(&iamv1.LoginRequest{Username: "user-c", Password: "a fine password"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.identity.ListUsers(ctx, authed(login.Msg.GetTokens().GetAccessToken(), &iamv1.ListUsersRequest{}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("non-admin: %v", err)
	}
	// Disabling a user ends its token's validity at once.
	if _, err := e.identity.DisableUser(ctx, authed(e.admin, &iamv1.DisableUserRequest{Id: ids[2]})); err != nil {
		t.Fatal(err)
	}
	_, err = e.auth.WhoAmI(ctx, authed(login.Msg.GetTokens().GetAccessToken(), &iamv1.WhoAmIRequest{}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("disabled user's token: %v", err)
	}
	var ce *connect.Error
	_, err = e.auth.Login(ctx, connect.NewRequest(&iamv1.LoginRequest{Username: "user-c", Password: "a fine password"}))
	if !errors.As(err, &ce) || ce.Code() != connect.CodeUnauthenticated {
		t.Fatalf("disabled login: %v", err)
	}
}

// TestMFAOverRPC: self-service TOTP enrollment, login with a recovery code,
// and an administrator's reset.
func TestMFAOverRPC(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	created, err := e.identity.CreateUser(ctx, authed(e.admin, &iamv1.CreateUserRequest{Name: "nora", Password: "a fine password"}))
	if err != nil {
		t.Fatal(err)
	}
	login := func(recovery string) (*iamv1.TokenSet, error) {
		resp, err := e.auth.Login(ctx, connect.NewRequest(&iamv1.LoginRequest{Username: "nora", Password: "a fine password", RecoveryCode: recovery}))
		if err != nil {
			return nil, err
		}
		return resp.Msg.GetTokens(), nil
	}
	ts, err := login("")
	if err != nil {
		t.Fatal(err)
	}
	begin, err := e.auth.BeginTotpEnrollment(ctx, authed(ts.GetAccessToken(), &iamv1.BeginTotpEnrollmentRequest{Password: "a fine password"}))
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.DefaultConfig().CodeAt(begin.Msg.GetSecret(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	conf, err := e.auth.ConfirmTotpEnrollment(ctx, authed(ts.GetAccessToken(), &iamv1.ConfirmTotpEnrollmentRequest{Code: code}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := login(""); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("login without second factor: %v", err)
	}
	if _, err := login(conf.Msg.GetRecoveryCodes()[0]); err != nil {
		t.Fatalf("login with recovery code: %v", err)
	}
	u, err := e.identity.GetUser(ctx, authed(e.admin, &iamv1.GetUserRequest{Id: created.Msg.GetUser().GetId()}))
	if err != nil || !u.Msg.GetUser().GetMfaEnabled() {
		t.Fatalf("GetUser: %v %v; want mfa_enabled", u, err)
	}
	if _, err := e.identity.ResetUserMfa(ctx, authed(e.admin, &iamv1.ResetUserMfaRequest{Id: u.Msg.GetUser().GetId(), Etag: u.Msg.GetUser().GetEtag()})); err != nil {
		t.Fatal(err)
	}
	if _, err := login(""); err != nil {
		t.Fatalf("login after reset: %v", err)
	}
}

// TestKeyRotationOnDemand: after a rotation, tokens signed before it still
// work, new tokens carry the new kid and the JWKS lists both keys.
func TestKeyRotationOnDemand(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, e.base)
	if err != nil {
		t.Fatal(err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: "photoncloud", SupportedSigningAlgs: []string{oidc.EdDSA}})
	if _, err := verifier.Verify(ctx, e.admin); err != nil {
		t.Fatalf("verify before rotation: %v", err)
	}
	rot, err := e.auth.RotateSigningKey(ctx, authed(e.admin, &iamv1.RotateSigningKeyRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	kid := rot.Msg.GetKeyId()
	if _, err := e.auth.WhoAmI(ctx, authed(e.admin, &iamv1.WhoAmIRequest{})); err != nil {
		t.Fatalf("pre-rotation token refused: %v", err)
	}
	resp, err := e.auth.Login(ctx, connect.NewRequest(&iamv1.LoginRequest{Username: "admin", Password: adminPassword}))
	if err != nil {
		t.Fatal(err)
	}
	fresh := resp.Msg.GetTokens().GetAccessToken()
	// go-oidc refetches the JWKS on an unknown kid.
	if _, err := verifier.Verify(ctx, fresh); err != nil {
		t.Fatalf("verify after rotation: %v", err)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(fresh, ".")[0])
	if !strings.Contains(string(hdr), kid) {
		t.Fatalf("new token header %s lacks kid %s", hdr, kid)
	}
	jwks, err := http.Get(e.base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	_ = json.NewDecoder(jwks.Body).Decode(&set)
	jwks.Body.Close()
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys; want the old and the new", len(set.Keys))
	}
	// A non-admin may not rotate.
	if _, err := e.auth.RotateSigningKey(ctx, connect.NewRequest(&iamv1.RotateSigningKeyRequest{})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("anonymous rotation: %v", err)
	}
}
