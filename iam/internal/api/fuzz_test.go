package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/photoncloud/core/iam/internal/auth"
	"github.com/photoncloud/core/iam/internal/password"
	"github.com/photoncloud/core/iam/internal/store"
	"github.com/photoncloud/core/iam/internal/token"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// newTestServer serves both services over httptest with an administrator
// token, on a fresh store.
func newTestServer(t testing.TB) (*httptest.Server, string, store.Store) {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h, err := password.New(password.Options{Params: password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, AllowWeakParams: true})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := token.NewKeyring(time.Now(), token.KeyringOptions{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := auth.New(auth.Config{Issuer: "http://iam.test", Audience: "photoncloud", AccessTokenTTL: time.Minute, SessionTTL: time.Hour}, st, h, keys, log)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := h.Hash("bootstrap admin secret")
	if _, err := st.Bootstrap(context.Background(), &store.User{ID: "usr_admin", Name: "admin", PasswordHash: hash},
		&store.Group{ID: "grp_admins", Name: auth.AdminGroup}, time.Now()); err != nil {
		t.Fatal(err)
	}
	ts, err := svc.Login(context.Background(), auth.LoginRequest{Username: "admin", Password: "bootstrap admin secret", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(iamv1connect.NewIdentityServiceHandler(NewIdentity(svc, st, log)))
	mux.Handle(iamv1connect.NewAuthServiceHandler(NewAuth(svc, st, log)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, ts.AccessToken, st
}

// FuzzJSONBodies posts arbitrary JSON to the identity and auth procedures:
// the answer is never a server error, and whatever user is stored has a
// valid name.
func FuzzJSONBodies(f *testing.F) {
	srv, admin, st := newTestServer(f)
	procedures := []string{
		iamv1connect.IdentityServiceCreateUserProcedure,
		iamv1connect.IdentityServiceListUsersProcedure,
		iamv1connect.IdentityServiceUpdateUserProcedure,
		iamv1connect.IdentityServiceCreateServiceAccountKeyProcedure,
		iamv1connect.AuthServiceLoginProcedure,
		iamv1connect.AuthServiceRefreshProcedure,
		iamv1connect.AuthServiceIntrospectProcedure,
	}
	f.Add(uint8(0), `{"name":"fuzzy","password":"a fine password"}`)
	f.Add(uint8(1), `{"pageSize":3,"pageToken":"xyz","filter":"name=a*"}`)
	f.Add(uint8(2), `{"id":"usr_admin","displayName":"\u0000"}`)
	f.Add(uint8(3), `{"serviceAccountId":"sa_x","expireTime":"1970-01-01T00:00:00Z"}`)
	f.Add(uint8(4), `{"username":"admin","password":""}`)
	f.Add(uint8(5), `{"refreshToken":"pcrt_x"}`)
	f.Add(uint8(6), `{"token":"a.b.c"}`)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		proc := procedures[int(which)%len(procedures)]
		req, _ := http.NewRequest(http.MethodPost, srv.URL+proc, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %q: %d %s", proc, body, resp.StatusCode, b)
		}
		users, _, err := st.ListUsers(context.Background(), store.ListQuery{PageSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if !namePattern.MatchString(u.Name) {
				t.Fatalf("stored user with invalid name %q", u.Name)
			}
		}
	})
}
