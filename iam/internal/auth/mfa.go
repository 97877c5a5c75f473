package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/photoncloud/core/iam/internal/store"
	"github.com/photoncloud/core/iam/internal/totp"
)

// MFA errors.
var (
	// ErrMFAState: the operation does not fit the user's MFA state (already
	// enrolled, no enrollment pending, not enrolled).
	ErrMFAState = errors.New("operation does not fit the current MFA state")
	// ErrInvalidCode: a TOTP or recovery code did not verify.
	ErrInvalidCode = errors.New("invalid code")
	// ErrNotAUser: the caller is not a user (service accounts have no MFA).
	ErrNotAUser = errors.New("only users can manage MFA")
)

// totpIssuer labels IAM's entries in authenticator apps.
const totpIssuer = "PhotonCloud"

// mfaKey throttles code guesses on an account by an authenticated caller
// (for example one holding a stolen access token).
func mfaKey(userID string) string { return "mfa:" + userID }

func (s *Service) mfaThrottled(ctx context.Context, userID string) error {
	if wait := s.accounts.Check(mfaKey(userID), s.cfg.Now()); wait > 0 {
		add(ctx, s.metrics.throttled, "", "")
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// BeginTOTP starts enrollment for a user who re-confirmed the password. The
// pending secret replaces any earlier pending one.
func (s *Service) BeginTOTP(ctx context.Context, p *Principal, pw string) (secret, uri string, err error) {
	if p.Kind != store.KindUser {
		return "", "", ErrNotAUser
	}
	if err := s.mfaThrottled(ctx, p.ID); err != nil {
		return "", "", err
	}
	u, err := s.store.GetUser(ctx, p.ID)
	if err != nil {
		return "", "", fmt.Errorf("auth: begin totp: %w", err)
	}
	if ok, err := s.hasher.Verify(pw, u.PasswordHash); err != nil || !ok {
		s.accounts.Fail(mfaKey(p.ID), s.cfg.Now())
		return "", "", ErrInvalidCredentials
	}
	if u.TOTPSecret != "" {
		return "", "", fmt.Errorf("%w: TOTP is already enabled", ErrMFAState)
	}
	if secret, err = totp.GenerateSecret(); err != nil {
		return "", "", fmt.Errorf("auth: begin totp: %w", err)
	}
	if uri, err = totp.ProvisioningURI(secret, totpIssuer, u.Name); err != nil {
		return "", "", fmt.Errorf("auth: begin totp: %w", err)
	}
	_, err = s.store.UpdateUser(ctx, u.ID, "", func(cur *store.User) error {
		if cur.TOTPSecret != "" {
			return fmt.Errorf("%w: TOTP is already enabled", ErrMFAState)
		}
		cur.TOTPPendingSecret = secret
		return nil
	})
	if err != nil {
		return "", "", err
	}
	s.log.InfoContext(ctx, "totp enrollment started", "user_id", u.ID)
	return secret, uri, nil
}

// ConfirmTOTP completes enrollment with a code from the new authenticator
// and returns fresh recovery codes.
func (s *Service) ConfirmTOTP(ctx context.Context, p *Principal, code string) ([]string, error) {
	if p.Kind != store.KindUser {
		return nil, ErrNotAUser
	}
	if err := s.mfaThrottled(ctx, p.ID); err != nil {
		return nil, err
	}
	codes, hashes, err := totp.GenerateRecoveryCodes(totp.DefaultRecoveryCodes)
	if err != nil {
		return nil, fmt.Errorf("auth: recovery codes: %w", err)
	}
	now := s.cfg.Now()
	_, err = s.store.UpdateUser(ctx, p.ID, "", func(cur *store.User) error {
		if cur.TOTPSecret != "" || cur.TOTPPendingSecret == "" {
			return fmt.Errorf("%w: no enrollment pending", ErrMFAState)
		}
		counter, ok := totp.Verify(cur.TOTPPendingSecret, code, now, 0)
		if !ok {
			return ErrInvalidCode
		}
		cur.TOTPSecret, cur.TOTPPendingSecret = cur.TOTPPendingSecret, ""
		cur.TOTPLastCounter = counter
		cur.RecoveryCodeHashes = hashes
		return nil
	})
	if errors.Is(err, ErrInvalidCode) {
		s.accounts.Fail(mfaKey(p.ID), now)
	}
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "totp enabled", "user_id", p.ID)
	return codes, nil
}

// DisableTOTP switches MFA off given a current TOTP code or a recovery code.
func (s *Service) DisableTOTP(ctx context.Context, p *Principal, code string) error {
	if p.Kind != store.KindUser {
		return ErrNotAUser
	}
	if err := s.mfaThrottled(ctx, p.ID); err != nil {
		return err
	}
	now := s.cfg.Now()
	_, err := s.store.UpdateUser(ctx, p.ID, "", func(cur *store.User) error {
		if cur.TOTPSecret == "" {
			return fmt.Errorf("%w: TOTP is not enabled", ErrMFAState)
		}
		_, okTOTP := totp.Verify(cur.TOTPSecret, code, now, cur.TOTPLastCounter)
		_, okRecovery := totp.ConsumeRecoveryCode(code, cur.RecoveryCodeHashes)
		if !okTOTP && !okRecovery {
			return ErrInvalidCode
		}
		clearMFA(cur)
		return nil
	})
	if errors.Is(err, ErrInvalidCode) {
		s.accounts.Fail(mfaKey(p.ID), now)
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "totp disabled", "user_id", p.ID)
	return nil
}

func clearMFA(u *store.User) {
	u.TOTPSecret, u.TOTPPendingSecret, u.TOTPLastCounter, u.RecoveryCodeHashes = "", "", 0, nil
}

// ClearMFA is the mutation an administrator's MFA reset applies.
func ClearMFA(u *store.User) { clearMFA(u) }

// consumeRecovery spends a recovery code at login. The check and the
// removal happen in one store update, so a code works once even when two
// logins race.
func (s *Service) consumeRecovery(ctx context.Context, u *store.User, code string) error {
	left := 0
	_, err := s.store.UpdateUser(ctx, u.ID, "", func(cur *store.User) error {
		remaining, ok := totp.ConsumeRecoveryCode(code, cur.RecoveryCodeHashes)
		if !ok {
			return ErrInvalidCredentials
		}
		cur.RecoveryCodeHashes = slices.Clip(remaining)
		left = len(remaining)
		return nil
	})
	if errors.Is(err, ErrInvalidCredentials) {
		s.log.InfoContext(ctx, "login failed", "reason", "wrong recovery code", "user_id", u.ID)
		return ErrInvalidCredentials
	}
	if err != nil {
		return fmt.Errorf("auth: recording recovery code use: %w", err)
	}
	s.log.InfoContext(ctx, "recovery code used", "user_id", u.ID, "remaining", left)
	return nil
}
