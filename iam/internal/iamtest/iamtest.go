// Package iamtest starts a real IAM server in-process for tests of code
// that talks to IAM over RPC (the SDK, the demo service, iamctl), and
// offers the few administrative steps such tests need.
package iamtest

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/iam/internal/app"
	"github.com/photoncloud/core/pkg/servertest"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// AdminPassword is the bootstrap administrator's password.
const AdminPassword = "iamtest bootstrap secret"

// Audience is the aud of the test server's tokens.
const Audience = "photoncloud"

// Env is a running IAM and an administrator's token.
type Env struct {
	t     testing.TB
	Base  string
	Admin string
	// AdminRefresh is the administrator's refresh token.
	AdminRefresh string
	Identity     iamv1connect.IdentityServiceClient
	Auth         iamv1connect.AuthServiceClient
	Policy       iamv1connect.PolicyServiceClient
	Authz        iamv1connect.AuthzServiceClient
}

// Start runs IAM until the test ends. Extra flags are appended.
func Start(t testing.TB, flags ...string) *Env {
	t.Helper()
	addr := servertest.FreeAddr(t)
	base := "http://" + addr
	args := append([]string{"--listen-addr", addr, "--data-dir", t.TempDir(), "--issuer", base,
		"--bootstrap-admin-password", AdminPassword}, flags...)
	servertest.RunCommand(t, app.Command("test", "test"), addr, args...)
	servertest.WaitReady(t, addr)
	hc := http.DefaultClient
	e := &Env{t: t, Base: base,
		Identity: iamv1connect.NewIdentityServiceClient(hc, base), Auth: iamv1connect.NewAuthServiceClient(hc, base),
		Policy: iamv1connect.NewPolicyServiceClient(hc, base), Authz: iamv1connect.NewAuthzServiceClient(hc, base)}
	resp, err := e.Auth.Login(context.Background(), connect.NewRequest(&iamv1.LoginRequest{Username: "admin", Password: AdminPassword}))
	if err != nil {
		t.Fatalf("iamtest: admin login: %v", err)
	}
	e.Admin, e.AdminRefresh = resp.Msg.GetTokens().GetAccessToken(), resp.Msg.GetTokens().GetRefreshToken()
	return e
}

// Authed wraps msg in a request carrying tok.
func Authed[T any](tok string, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set("Authorization", "Bearer "+tok)
	return r
}

// ServiceAccount creates a service account with a key and returns its
// member string, client id and secret.
func (e *Env) ServiceAccount(name string) (member, clientID, secret string) {
	e.t.Helper()
	ctx := context.Background()
	sa, err := e.Identity.CreateServiceAccount(ctx, Authed(e.Admin, &iamv1.CreateServiceAccountRequest{Name: name}))
	if err != nil {
		e.t.Fatalf("iamtest: CreateServiceAccount: %v", err)
	}
	id := sa.Msg.GetServiceAccount().GetId()
	key, err := e.Identity.CreateServiceAccountKey(ctx, Authed(e.Admin, &iamv1.CreateServiceAccountKeyRequest{ServiceAccountId: id}))
	if err != nil {
		e.t.Fatalf("iamtest: CreateServiceAccountKey: %v", err)
	}
	return "serviceAccount:" + id, key.Msg.GetClientId(), key.Msg.GetClientSecret()
}

// Token gets an access token by client credentials.
func (e *Env) Token(clientID, secret string) string {
	e.t.Helper()
	tok, err := ClientCredentials(context.Background(), e.Base, clientID, secret)
	if err != nil {
		e.t.Fatalf("iamtest: token: %v", err)
	}
	return tok
}

// Role creates a custom role as the administrator.
func (e *Env) Role(name, parent string, perms ...string) {
	e.t.Helper()
	_, err := e.Policy.CreateRole(context.Background(), Authed(e.Admin, &iamv1.CreateRoleRequest{
		Role: &iamv1.Role{Name: name, Parent: parent, Permissions: perms}}))
	if err != nil {
		e.t.Fatalf("iamtest: CreateRole %s: %v", name, err)
	}
}

// Bind grants role on resource to members as the administrator and
// returns the binding and the consistency token.
func (e *Env) Bind(resource, role string, members ...string) (*iamv1.Binding, string) {
	e.t.Helper()
	resp, err := e.Policy.CreateBinding(context.Background(), Authed(e.Admin, &iamv1.CreateBindingRequest{
		Binding: &iamv1.Binding{Resource: resource, Role: role, Members: members}}))
	if err != nil {
		e.t.Fatalf("iamtest: CreateBinding %s on %s: %v", role, resource, err)
	}
	return resp.Msg.GetBinding(), resp.Msg.GetConsistencyToken()
}
