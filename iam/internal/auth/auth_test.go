package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/photoncloud/core/iam/internal/password"
	"github.com/photoncloud/core/iam/internal/store"
	"github.com/photoncloud/core/iam/internal/token"
	"github.com/photoncloud/core/iam/internal/totp"
)

// fastParams keep Argon2id cheap so the race detector stays quick; the
// production parameters are the password package's concern.
var fastParams = password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type fixture struct {
	svc   *Service
	store *store.Bolt
	now   time.Time
	mu    sync.Mutex
}

func (f *fixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newFixture(t *testing.T, params password.Params) *fixture { return newFixtureTB(t, params) }

func newFixtureTB(t testing.TB, params password.Params) *fixture {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h, err := password.New(password.Options{Params: params, AllowWeakParams: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: st, now: time.Now()}
	keys, err := token.NewKeyring(f.now, token.KeyringOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Issuer: "http://iam.test", Audience: "photoncloud", AccessTokenTTL: 5 * time.Minute,
		SessionTTL: time.Hour, Now: f.clock}, st, h, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

func (f *fixture) addUser(t *testing.T, name, pw string) *store.User { return f.addUserTB(t, name, pw) }

func (f *fixture) addUserTB(t testing.TB, name, pw string) *store.User {
	t.Helper()
	hash, err := f.svc.hasher.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{ID: "usr_" + name, Name: name, PasswordHash: hash}
	if err := f.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestLoginAndRefreshRotation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	f.addUser(t, "alice", "correct horse battery")
	ts, err := f.svc.Login(ctx, LoginRequest{Username: "alice", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	p, err := f.svc.Authenticate(ctx, ts.AccessToken)
	if err != nil || p.Name != "alice" || p.Kind != store.KindUser {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	next, err := f.svc.Refresh(ctx, ts.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if next.RefreshToken == ts.RefreshToken {
		t.Fatal("refresh token was not rotated")
	}
	// The new token works once more.
	third, err := f.svc.Refresh(ctx, next.RefreshToken)
	if err != nil {
		t.Fatalf("second Refresh: %v", err)
	}
	// Reusing a spent token fails and revokes the whole family, including
	// the newest token.
	if _, err := f.svc.Refresh(ctx, ts.RefreshToken); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("reuse: err = %v, want ErrInvalidGrant", err)
	}
	if _, err := f.svc.Refresh(ctx, third.RefreshToken); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("after reuse the family must be revoked; err = %v", err)
	}
	in, err := f.svc.Introspect(ctx, third.RefreshToken)
	if err != nil || in.Active {
		t.Fatalf("Introspect of revoked refresh token = %+v, %v", in, err)
	}
}

func TestConcurrentRefreshExactlyOneWins(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	f.addUser(t, "bob", "correct horse battery")
	ts, err := f.svc.Login(ctx, LoginRequest{Username: "bob", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	results := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			_, err := f.svc.Refresh(ctx, ts.RefreshToken)
			results <- err
		})
	}
	close(start)
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrInvalidGrant):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded; want exactly 1", ok, n)
	}
}

func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	u := f.addUser(t, "carol", "correct horse battery")
	_, errUnknown := f.svc.Login(ctx, LoginRequest{Username: "nobody", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	_, errWrong := f.svc.Login(ctx, LoginRequest{Username: "carol", Password: "wrong password here", TOTPCode: "", Source: "192.0.2.1:1"})
	if _, err := f.store.UpdateUser(ctx, u.ID, "", func(u *store.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	_, errDisabled := f.svc.Login(ctx, LoginRequest{Username: "carol", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	for _, err := range []error{errUnknown, errWrong, errDisabled} {
		if err != ErrInvalidCredentials { //nolint:errorlint // identity is the point
			t.Fatalf("login failure = %v; want exactly ErrInvalidCredentials", err)
		}
	}
}

func TestLoginUpgradesWeakHash(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	weak, err := password.New(password.Options{Params: password.Params{MemoryKiB: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, AllowWeakParams: true})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := weak.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{ID: "usr_dave", Name: "dave", PasswordHash: hash}
	if err := f.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	ts, err := f.svc.Login(ctx, LoginRequest{Username: "dave", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.GetUser(ctx, u.ID)
	if got.PasswordHash == hash {
		t.Fatal("hash was not upgraded")
	}
	if need, _ := f.svc.hasher.NeedsRehash(got.PasswordHash); need {
		t.Fatal("upgraded hash still needs rehash")
	}
	// An upgrade is not a password change: the session survives.
	if _, err := f.svc.Refresh(ctx, ts.RefreshToken); err != nil {
		t.Fatalf("session revoked by hash upgrade: %v", err)
	}
}

func TestDisableAndPasswordChangeRevokeSessions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	u := f.addUser(t, "erin", "correct horse battery")
	ts, err := f.svc.Login(ctx, LoginRequest{Username: "erin", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.UpdateUser(ctx, u.ID, "", func(u *store.User) error {
		u.PasswordChangedAt = time.Now()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, ts.RefreshToken); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("refresh after password change: %v", err)
	}
	ts, err = f.svc.Login(ctx, LoginRequest{Username: "erin", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.UpdateUser(ctx, u.ID, "", func(u *store.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, ts.AccessToken); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("access token of disabled user: %v", err)
	}
	if in, _ := f.svc.Introspect(ctx, ts.AccessToken); in.Active {
		t.Fatal("access token of disabled user is active")
	}
	if _, err := f.svc.Refresh(ctx, ts.RefreshToken); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("refresh of disabled user: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	f.addUser(t, "frank", "correct horse battery")
	ts, err := f.svc.Login(ctx, LoginRequest{Username: "frank", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"garbage", "pcrt_unknown", ""} {
		if err := f.svc.Revoke(ctx, tok, ""); err != nil {
			t.Fatalf("Revoke(%q) = %v; unknown tokens must succeed", tok, err)
		}
	}
	if err := f.svc.Revoke(ctx, ts.AccessToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if in, _ := f.svc.Introspect(ctx, ts.AccessToken); in.Active {
		t.Fatal("revoked access token still active")
	}
	if err := f.svc.Revoke(ctx, ts.RefreshToken, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, ts.RefreshToken); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("refresh after revoke: %v", err)
	}
}

func TestRefreshExpires(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	f.addUser(t, "gina", "correct horse battery")
	ts, err := f.svc.Login(ctx, LoginRequest{Username: "gina", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	f.advance(2 * time.Hour)
	if _, err := f.svc.Refresh(ctx, ts.RefreshToken); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("expired refresh: %v", err)
	}
	if in, _ := f.svc.Introspect(ctx, ts.AccessToken); in.Active {
		t.Fatal("expired access token active")
	}
}

func TestClientCredentials(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	sa := &store.ServiceAccount{ID: "sa_builder", Name: "builder"}
	if err := f.store.CreateServiceAccount(ctx, sa); err != nil {
		t.Fatal(err)
	}
	secret, hash, err := NewClientSecret("sak_one")
	if err != nil {
		t.Fatal(err)
	}
	key := &store.ServiceAccountKey{ID: "sak_one", ServiceAccountID: sa.ID, SecretHash: hash}
	if err := f.store.CreateServiceAccountKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	ts, err := f.svc.ClientCredentials(ctx, sa.ID, secret, "read write")
	if err != nil {
		t.Fatal(err)
	}
	if ts.RefreshToken != "" {
		t.Fatal("client credentials must not issue a refresh token")
	}
	in, err := f.svc.Introspect(ctx, ts.AccessToken)
	if err != nil || !in.Active || in.ClientID != sa.ID || in.Username != "builder" || in.Scope != "read write" {
		t.Fatalf("Introspect = %+v, %v", in, err)
	}
	for name, c := range map[string][2]string{
		"wrong secret":   {sa.ID, secret[:len(secret)-2] + "xx"},
		"wrong client":   {"sa_other", secret},
		"not a secret":   {sa.ID, "hunter2"},
		"unknown key id": {sa.ID, "pcsk_sak_two.abc"},
	} {
		if _, err := f.svc.ClientCredentials(ctx, c[0], c[1], ""); !errors.Is(err, ErrInvalidClient) {
			t.Errorf("%s: err = %v, want ErrInvalidClient", name, err)
		}
	}
	if _, err := f.svc.ClientCredentials(ctx, sa.ID, secret, "bad\"scope"); !errors.Is(err, ErrInvalidScope) {
		t.Errorf("bad scope: %v", err)
	}
	if _, err := f.store.UpdateServiceAccount(ctx, sa.ID, "", func(sa *store.ServiceAccount) error { sa.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ClientCredentials(ctx, sa.ID, secret, ""); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("disabled service account: %v", err)
	}
	if in, _ := f.svc.Introspect(ctx, ts.AccessToken); in.Active {
		t.Error("token of disabled service account is active")
	}
}

func TestLoginWithTOTP(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	u := f.addUser(t, "hank", "correct horse battery")
	secret, err := totp.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.UpdateUser(ctx, u.ID, "", func(u *store.User) error { u.TOTPSecret = secret; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, LoginRequest{Username: "hank", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"}); !errors.Is(err, ErrMFARequired) {
		t.Fatalf("no code: %v", err)
	}
	// A wrong password with MFA enrolled still says nothing about MFA.
	if _, err := f.svc.Login(ctx, LoginRequest{Username: "hank", Password: "wrong password here", TOTPCode: "", Source: "192.0.2.1:1"}); err != ErrInvalidCredentials { //nolint:errorlint
		t.Fatalf("wrong password: %v", err)
	}
	code, err := totp.DefaultConfig().CodeAt(secret, f.clock())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, LoginRequest{Username: "hank", Password: "correct horse battery", TOTPCode: code, Source: "192.0.2.1:1"}); err != nil {
		t.Fatalf("valid code: %v", err)
	}
	if _, err := f.svc.Login(ctx, LoginRequest{Username: "hank", Password: "correct horse battery", TOTPCode: code, Source: "192.0.2.1:1"}); err != ErrInvalidCredentials { //nolint:errorlint
		t.Fatalf("reused code: %v", err)
	}
	if _, err := f.svc.Login(ctx, LoginRequest{Username: "hank", Password: "correct horse battery", TOTPCode: "000000x", Source: "192.0.2.1:1"}); err != ErrInvalidCredentials { //nolint:errorlint
		t.Fatalf("malformed code: %v", err)
	}
}

func TestLoginThrottling(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	f.addUser(t, "kate", "correct horse battery")
	attempt := func(user, pw, src string) error {
		_, err := f.svc.Login(ctx, LoginRequest{Username: user, Password: pw, TOTPCode: "", Source: src})
		return err
	}
	var throttled *ThrottledError
	// Existing and unknown accounts are throttled alike.
	for _, user := range []string{"kate", "nobody"} {
		for i := range DefaultAccountThrottle().Free {
			if err := attempt(user, "wrong password here", fmt.Sprintf("198.51.100.%d:1", i)); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("%s attempt %d: %v", user, i, err)
			}
		}
		if err := attempt(user, "wrong password here", "198.51.100.99:1"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("%s: the failure past the free ones is still tried: %v", user, err)
		}
		// Now even the right password waits, from any address.
		if err := attempt(user, "correct horse battery", "203.0.113.1:1"); !errors.As(err, &throttled) || throttled.RetryAfter != time.Second {
			t.Fatalf("%s: err = %v; want throttled for 1s", user, err)
		}
	}
	f.advance(time.Second)
	if err := attempt("kate", "correct horse battery", "203.0.113.1:1"); err != nil {
		t.Fatalf("after the delay the right password works: %v", err)
	}
	// Per source: one address guessing many accounts.
	for i := range DefaultSourceThrottle().Free + 1 {
		_ = attempt(fmt.Sprintf("victim%d", i), "wrong password here", "192.0.2.200:1")
	}
	if err := attempt("kate", "correct horse battery", "192.0.2.200:2"); !errors.As(err, &throttled) {
		t.Fatalf("source not throttled: %v", err)
	}
	if err := attempt("kate", "correct horse battery", "192.0.2.201:1"); err != nil {
		t.Fatalf("other sources are unaffected: %v", err)
	}
}

func TestPasswordChangeEndsAccessTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	u := f.addUser(t, "olga", "correct horse battery")
	ts, err := f.svc.Login(ctx, LoginRequest{Username: "olga", Password: "correct horse battery", Source: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.UpdateUser(ctx, u.ID, "", func(u *store.User) error {
		u.PasswordChangedAt = f.clock().Add(2 * time.Second)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, ts.AccessToken); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("access token issued before the password change: %v", err)
	}
}
