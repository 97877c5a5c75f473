package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTest(t *testing.T) *Bolt {
	t.Helper()
	s, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestUserCRUDAndEtags(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	u := &User{ID: "usr_1", Name: "alice", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u.ETag() != "1" {
		t.Fatalf("etag after create = %q", u.ETag())
	}
	if err := s.CreateUser(ctx, &User{ID: "usr_2", Name: "alice"}); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	if err := s.CreateUser(ctx, &User{ID: "usr_1", Name: "other"}); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	// The failed creates left no index entry behind.
	if _, err := s.GetUserByName(ctx, "other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("name index polluted by failed create: %v", err)
	}
	got, err := s.UpdateUser(ctx, "usr_1", "1", func(u *User) error { u.Email = "a@example.com"; return nil })
	if err != nil || got.ETag() != "2" || got.Email != "a@example.com" {
		t.Fatalf("update: %+v %v", got, err)
	}
	if _, err := s.UpdateUser(ctx, "usr_1", "1", func(u *User) error { return nil }); !errors.Is(err, ErrEtagMismatch) {
		t.Fatalf("stale etag: %v", err)
	}
	if _, err := s.UpdateUser(ctx, "usr_1", "", func(u *User) error { u.Name = "mallory"; return nil }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("rename: %v", err)
	}
	if _, err := s.UpdateUser(ctx, "usr_1", "", func(u *User) error { u.Version = 99; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetUser(ctx, "usr_1"); got.Version != 3 {
		t.Fatalf("mutate could set the version: %d", got.Version)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateUser(ctx, "usr_1", "", func(u *User) error { u.Email = "x"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("mutate error: %v", err)
	}
	if got, _ := s.GetUser(ctx, "usr_1"); got.Email != "a@example.com" {
		t.Fatal("failed mutation was stored")
	}
	if err := s.DeleteUser(ctx, "usr_1", "2"); !errors.Is(err, ErrEtagMismatch) {
		t.Fatalf("delete with stale etag: %v", err)
	}
	if err := s.DeleteUser(ctx, "usr_1", "3"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUserByName(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("name index survived delete: %v", err)
	}
}

func TestListPagination(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for i := range 7 {
		if err := s.CreateUser(ctx, &User{ID: fmt.Sprintf("usr_%d", i), Name: fmt.Sprintf("user%d", i), Disabled: i%2 == 1}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	q := ListQuery{PageSize: 2, Match: func(v any) bool { return !v.(*User).Disabled }}
	for {
		page, next, err := s.ListUsers(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page {
			names = append(names, u.Name)
		}
		if next == "" {
			break
		}
		q.After = next
	}
	if fmt.Sprint(names) != "[user0 user2 user4 user6]" {
		t.Fatalf("names = %v", names)
	}
	if _, _, err := s.ListUsers(ctx, ListQuery{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero page size: %v", err)
	}
}

func TestRefreshRotationInStore(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if err := s.CreateUser(ctx, &User{ID: "usr_1", Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fam := &RefreshFamily{ID: "fam", Subject: "usr_1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	first := &RefreshToken{Hash: []byte("h1"), Subject: "usr_1", PrincipalKind: KindUser, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateRefreshFamily(ctx, fam, first); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefreshToken(ctx, []byte("h1"), &RefreshToken{Hash: []byte("h2"), ExpiresAt: now.Add(2 * time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.GetRefreshToken(ctx, []byte("h2"))
	if err != nil || tok.FamilyID != "fam" || tok.Subject != "usr_1" || !tok.ExpiresAt.Equal(fam.ExpiresAt) {
		t.Fatalf("successor = %+v, %v (must inherit family, subject, and be capped at the family expiry)", tok, err)
	}
	_, err = s.RotateRefreshToken(ctx, []byte("h1"), &RefreshToken{Hash: []byte("h3"), ExpiresAt: now.Add(time.Hour)}, now)
	if !errors.Is(err, ErrRefreshReused) {
		t.Fatalf("reuse: %v", err)
	}
	// The revocation was committed although the call failed.
	if _, f, _ := s.GetRefreshToken(ctx, []byte("h2")); f.RevokedAt.IsZero() || f.RevokeReason != "reuse" {
		t.Fatalf("family not revoked: %+v", f)
	}
	if _, _, err := s.GetRefreshToken(ctx, []byte("h3")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a token was stored on reuse: %v", err)
	}
	// Sweep removes the expired family and its tokens.
	n, err := s.Sweep(ctx, now.Add(3*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v; want 3 records", n, err)
	}
}

func TestKeyringAndBootstrapPersist(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := s.LoadOrCreateKeyring(ctx, func() ([]byte, error) { return []byte("ring-1"), nil })
	if err != nil || string(data) != "ring-1" {
		t.Fatalf("create: %q %v", data, err)
	}
	done, err := s.Bootstrap(ctx, &User{ID: "usr_a", Name: "admin"}, &Group{ID: "grp_a", Name: "admins"}, time.Now())
	if err != nil || !done {
		t.Fatalf("bootstrap: %v %v", done, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after close: %v", err)
	}
	s, err = OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data, err = s.LoadOrCreateKeyring(ctx, func() ([]byte, error) { return nil, errors.New("must not be called") })
	if err != nil || string(data) != "ring-1" {
		t.Fatalf("reload: %q %v", data, err)
	}
	done, err = s.Bootstrap(ctx, &User{ID: "usr_b", Name: "admin2"}, &Group{ID: "grp_b", Name: "admins"}, time.Now())
	if err != nil || done {
		t.Fatalf("second bootstrap: %v %v", done, err)
	}
	if ok, _ := s.IsGroupMember(ctx, "grp_a", "usr_a"); !ok {
		t.Fatal("bootstrap membership missing")
	}
}

// TestBootstrapGoesThroughTheIdentityHook: the first administrator, the
// admins group and the membership each reach the hook inside the bootstrap
// transaction, and a failing hook leaves no administrator behind (and
// bootstrap still to do).
func TestBootstrapGoesThroughTheIdentityHook(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	s.SetIdentityHook(func(context.Context, *bolt.Tx, IdentityChange) error { return errors.New("audit unavailable") })
	if _, err := s.Bootstrap(ctx, &User{ID: "usr_a", Name: "admin"}, &Group{ID: "grp_a", Name: "admins"}, time.Now()); err == nil {
		t.Fatal("bootstrap succeeded although its hook failed")
	}
	if _, err := s.GetUser(ctx, "usr_a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("administrator exists without its record: %v", err)
	}
	var got []string
	s.SetIdentityHook(func(_ context.Context, tx *bolt.Tx, c IdentityChange) error {
		if tx.Bucket(bktUsers).Get([]byte("usr_a")) == nil {
			return errors.New("hook ran outside the bootstrap transaction")
		}
		got = append(got, c.Action+" "+c.Target+" "+c.Detail)
		return nil
	})
	done, err := s.Bootstrap(ctx, &User{ID: "usr_a", Name: "admin"}, &Group{ID: "grp_a", Name: "admins"}, time.Now())
	if err != nil || !done {
		t.Fatalf("bootstrap: %v %v", done, err)
	}
	want := []string{"iam.users.create usr_a bootstrap", "iam.groups.create grp_a bootstrap", "iam.groups.addMember grp_a usr_a"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("hook saw %q, want %q", got, want)
	}
}
