package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/photoncloud/core/iam/internal/store"
	"github.com/photoncloud/core/iam/internal/totp"
)

func TestTOTPEnrollmentAndRecovery(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	u := f.addUser(t, "lena", "correct horse battery")
	p := &Principal{Kind: store.KindUser, ID: u.ID, Name: u.Name}
	login := func(code, recovery string) error {
		_, err := f.svc.Login(ctx, LoginRequest{Username: "lena", Password: "correct horse battery",
			TOTPCode: code, RecoveryCode: recovery, Source: "192.0.2.1:1"})
		return err
	}

	if _, _, err := f.svc.BeginTOTP(ctx, p, "wrong password here"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("begin with wrong password: %v", err)
	}
	if _, err := f.svc.ConfirmTOTP(ctx, p, "123456"); !errors.Is(err, ErrMFAState) {
		t.Fatalf("confirm without begin: %v", err)
	}
	secret, uri, err := f.svc.BeginTOTP(ctx, p, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(uri, "otpauth://totp/PhotonCloud:lena?secret=") {
		t.Fatalf("uri = %s", uri)
	}
	// Pending enrollment does not yet require a code.
	if err := login("", ""); err != nil {
		t.Fatalf("login during pending enrollment: %v", err)
	}
	if _, err := f.svc.ConfirmTOTP(ctx, p, "000000"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("confirm with wrong code: %v", err)
	}
	code, _ := totp.DefaultConfig().CodeAt(secret, f.clock())
	recovery, err := f.svc.ConfirmTOTP(ctx, p, code)
	if err != nil || len(recovery) != totp.DefaultRecoveryCodes {
		t.Fatalf("confirm: %d codes, %v", len(recovery), err)
	}
	if err := login("", ""); !errors.Is(err, ErrMFARequired) {
		t.Fatalf("login without code after enrollment: %v", err)
	}
	// The confirming code is spent; the next step's code works once.
	if err := login(code, ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("confirming code reused: %v", err)
	}
	f.advance(30 * time.Second)
	next, _ := totp.DefaultConfig().CodeAt(secret, f.clock())
	if err := login(next, ""); err != nil {
		t.Fatalf("login with code: %v", err)
	}
	// A recovery code works once.
	if err := login("", recovery[0]); err != nil {
		t.Fatalf("login with recovery code: %v", err)
	}
	if err := login("", recovery[0]); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("recovery code reused: %v", err)
	}
	if _, _, err := f.svc.BeginTOTP(ctx, p, "correct horse battery"); !errors.Is(err, ErrMFAState) {
		t.Fatalf("begin while enabled: %v", err)
	}
	if err := f.svc.DisableTOTP(ctx, p, "999999"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("disable with wrong code: %v", err)
	}
	if err := f.svc.DisableTOTP(ctx, p, recovery[1]); err != nil {
		t.Fatalf("disable with recovery code: %v", err)
	}
	if err := login("", ""); err != nil {
		t.Fatalf("login after disable: %v", err)
	}
	sa := &Principal{Kind: store.KindServiceAccount, ID: "sa_x"}
	if _, _, err := f.svc.BeginTOTP(ctx, sa, "x"); !errors.Is(err, ErrNotAUser) {
		t.Fatalf("service account enrollment: %v", err)
	}
}

func TestMFACodeGuessingThrottled(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fastParams)
	u := f.addUser(t, "mike", "correct horse battery")
	p := &Principal{Kind: store.KindUser, ID: u.ID}
	if _, _, err := f.svc.BeginTOTP(ctx, p, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	var throttled *ThrottledError
	for i := range DefaultAccountThrottle().Free + 2 {
		_, err := f.svc.ConfirmTOTP(ctx, p, "000000")
		if i > DefaultAccountThrottle().Free {
			if !errors.As(err, &throttled) {
				t.Fatalf("attempt %d: %v; want throttled", i, err)
			}
			return
		}
	}
}
