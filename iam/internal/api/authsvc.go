package api

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/photoncloud/core/iam/internal/auth"
	"github.com/photoncloud/core/iam/internal/password"
	"github.com/photoncloud/core/iam/internal/store"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// maxTokenInput bounds a token field; real tokens are far smaller.
const maxTokenInput = 8 << 10

// Auth serves iam.v1.AuthService.
type Auth struct {
	auth  *auth.Service
	store store.Store
	log   *slog.Logger
}

var _ iamv1connect.AuthServiceHandler = (*Auth)(nil)

// NewAuth returns the AuthService implementation.
func NewAuth(svc *auth.Service, st store.Store, log *slog.Logger) *Auth {
	return &Auth{auth: svc, store: st, log: log}
}

func tokenSetPB(ts *auth.TokenSet) *iamv1.TokenSet {
	out := &iamv1.TokenSet{
		AccessToken: ts.AccessToken, TokenType: "Bearer", ExpiresIn: int64(ts.ExpiresIn / time.Second),
		RefreshToken: ts.RefreshToken, Scope: ts.Scope,
	}
	if !ts.RefreshExpireTime.IsZero() {
		out.RefreshExpireTime = timestamppb.New(ts.RefreshExpireTime)
	}
	return out
}

// Login authenticates a user by password. Malformed input is reported as
// such, but only for properties that say nothing about any account (sizes);
// every credential failure is the same UNAUTHENTICATED answer.
func (s *Auth) Login(ctx context.Context, req *connect.Request[iamv1.LoginRequest]) (*connect.Response[iamv1.LoginResponse], error) {
	m := req.Msg
	if m.GetUsername() == "" || m.GetPassword() == "" {
		return nil, invalid("username and password are required")
	}
	if len(m.GetUsername()) > 256 || len(m.GetPassword()) > password.MaxPasswordBytes ||
		len(m.GetTotpCode()) > maxTOTPCode || len(m.GetRecoveryCode()) > maxRecoveryCode {
		return nil, invalid("username, password, totp_code or recovery_code too long")
	}
	ts, err := s.auth.Login(ctx, auth.LoginRequest{
		Username: m.GetUsername(), Password: m.GetPassword(), TOTPCode: m.GetTotpCode(),
		RecoveryCode: m.GetRecoveryCode(), Source: req.Peer().Addr,
	})
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		ce := connect.NewError(connect.CodeResourceExhausted, throttled)
		ce.Meta().Set("Retry-After", strconv.Itoa(int(throttled.RetryAfter.Seconds())+1))
		return nil, ce
	case errors.Is(err, auth.ErrInvalidCredentials):
		return nil, connect.NewError(connect.CodeUnauthenticated, auth.ErrInvalidCredentials)
	case errors.Is(err, auth.ErrMFARequired):
		return nil, connect.NewError(connect.CodeFailedPrecondition, auth.ErrMFARequired)
	case err != nil:
		return nil, toConnectError(ctx, s.log, err)
	}
	return connect.NewResponse(&iamv1.LoginResponse{Tokens: tokenSetPB(ts)}), nil
}

// Refresh rotates a refresh token.
func (s *Auth) Refresh(ctx context.Context, req *connect.Request[iamv1.RefreshRequest]) (*connect.Response[iamv1.RefreshResponse], error) {
	rt := req.Msg.GetRefreshToken()
	if rt == "" || len(rt) > maxTokenInput {
		return nil, invalid("refresh_token is required and must be a refresh token")
	}
	ts, err := s.auth.Refresh(ctx, rt)
	if errors.Is(err, auth.ErrInvalidGrant) {
		return nil, connect.NewError(connect.CodeUnauthenticated, auth.ErrInvalidGrant)
	}
	if err != nil {
		return nil, toConnectError(ctx, s.log, err)
	}
	return connect.NewResponse(&iamv1.RefreshResponse{Tokens: tokenSetPB(ts)}), nil
}

// Revoke revokes a token; unknown tokens succeed too (RFC 7009).
func (s *Auth) Revoke(ctx context.Context, req *connect.Request[iamv1.RevokeRequest]) (*connect.Response[iamv1.RevokeResponse], error) {
	tok := req.Msg.GetToken()
	if tok == "" || len(tok) > maxTokenInput || len(req.Msg.GetTokenTypeHint()) > 64 {
		return nil, invalid("token is required and must be at most %d bytes", maxTokenInput)
	}
	if err := s.auth.Revoke(ctx, tok, req.Msg.GetTokenTypeHint()); err != nil {
		return nil, toConnectError(ctx, s.log, err)
	}
	return connect.NewResponse(&iamv1.RevokeResponse{}), nil
}

// Introspect describes a token to an authenticated caller.
func (s *Auth) Introspect(ctx context.Context, req *connect.Request[iamv1.IntrospectRequest]) (*connect.Response[iamv1.IntrospectResponse], error) {
	if _, err := authenticate(ctx, s.auth, s.log, req.Header()); err != nil {
		return nil, err
	}
	tok := req.Msg.GetToken()
	if tok == "" || len(tok) > maxTokenInput {
		return nil, invalid("token is required and must be at most %d bytes", maxTokenInput)
	}
	in, err := s.auth.Introspect(ctx, tok)
	if err != nil {
		return nil, toConnectError(ctx, s.log, err)
	}
	out := &iamv1.IntrospectResponse{Active: in.Active}
	if in.Active {
		out.Scope, out.ClientId, out.Username, out.TokenType = in.Scope, in.ClientID, in.Username, in.TokenType
		out.Subject, out.Audience, out.Issuer, out.JwtId, out.PrincipalKind = in.Subject, in.Audience, in.Issuer, in.JWTID, in.PrincipalKind
		out.ExpireTime, out.IssueTime = timestamppb.New(in.ExpiresAt), timestamppb.New(in.IssuedAt)
		if !in.NotBefore.IsZero() {
			out.NotBeforeTime = timestamppb.New(in.NotBefore)
		}
	}
	return connect.NewResponse(out), nil
}

// WhoAmI describes the caller.
func (s *Auth) WhoAmI(ctx context.Context, req *connect.Request[iamv1.WhoAmIRequest]) (*connect.Response[iamv1.WhoAmIResponse], error) {
	p, err := authenticate(ctx, s.auth, s.log, req.Header())
	if err != nil {
		return nil, err
	}
	out := &iamv1.WhoAmIResponse{
		PrincipalKind: p.Kind, Subject: p.ID, Name: p.Name, TokenExpireTime: timestamppb.New(p.Claims.ExpiresAt),
	}
	switch p.Kind {
	case store.KindUser:
		u, err := s.store.GetUser(ctx, p.ID)
		if err != nil {
			return nil, toConnectError(ctx, s.log, err)
		}
		out.DisplayName = u.DisplayName
		if out.GroupIds, err = s.store.UserGroups(ctx, p.ID); err != nil {
			return nil, toConnectError(ctx, s.log, err)
		}
	case store.KindServiceAccount:
		sa, err := s.store.GetServiceAccount(ctx, p.ID)
		if err != nil {
			return nil, toConnectError(ctx, s.log, err)
		}
		out.DisplayName = sa.DisplayName
	}
	return connect.NewResponse(out), nil
}

// mfaError maps MFA flow errors.
func (s *Auth) mfaError(ctx context.Context, err error) error {
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		ce := connect.NewError(connect.CodeResourceExhausted, throttled)
		ce.Meta().Set("Retry-After", strconv.Itoa(int(throttled.RetryAfter.Seconds())+1))
		return ce
	case errors.Is(err, auth.ErrInvalidCredentials):
		return connect.NewError(connect.CodePermissionDenied, errors.New("password does not match"))
	case errors.Is(err, auth.ErrInvalidCode):
		return connect.NewError(connect.CodeInvalidArgument, auth.ErrInvalidCode)
	case errors.Is(err, auth.ErrMFAState), errors.Is(err, auth.ErrNotAUser):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	}
	return toConnectError(ctx, s.log, err)
}

// BeginTotpEnrollment starts TOTP enrollment for the calling user.
func (s *Auth) BeginTotpEnrollment(ctx context.Context, req *connect.Request[iamv1.BeginTotpEnrollmentRequest]) (*connect.Response[iamv1.BeginTotpEnrollmentResponse], error) {
	p, err := authenticate(ctx, s.auth, s.log, req.Header())
	if err != nil {
		return nil, err
	}
	pw := req.Msg.GetPassword()
	if pw == "" || len(pw) > password.MaxPasswordBytes {
		return nil, invalid("password is required")
	}
	secret, uri, err := s.auth.BeginTOTP(ctx, p, pw)
	if err != nil {
		return nil, s.mfaError(ctx, err)
	}
	return connect.NewResponse(&iamv1.BeginTotpEnrollmentResponse{Secret: secret, ProvisioningUri: uri}), nil
}

// ConfirmTotpEnrollment completes TOTP enrollment.
func (s *Auth) ConfirmTotpEnrollment(ctx context.Context, req *connect.Request[iamv1.ConfirmTotpEnrollmentRequest]) (*connect.Response[iamv1.ConfirmTotpEnrollmentResponse], error) {
	p, err := authenticate(ctx, s.auth, s.log, req.Header())
	if err != nil {
		return nil, err
	}
	code := req.Msg.GetCode()
	if code == "" || len(code) > maxTOTPCode {
		return nil, invalid("code is required")
	}
	codes, err := s.auth.ConfirmTOTP(ctx, p, code)
	if err != nil {
		return nil, s.mfaError(ctx, err)
	}
	return connect.NewResponse(&iamv1.ConfirmTotpEnrollmentResponse{RecoveryCodes: codes}), nil
}

// DisableTotp switches the caller's TOTP off.
func (s *Auth) DisableTotp(ctx context.Context, req *connect.Request[iamv1.DisableTotpRequest]) (*connect.Response[iamv1.DisableTotpResponse], error) {
	p, err := authenticate(ctx, s.auth, s.log, req.Header())
	if err != nil {
		return nil, err
	}
	code := req.Msg.GetCode()
	if code == "" || len(code) > maxRecoveryCode {
		return nil, invalid("code is required")
	}
	if err := s.auth.DisableTOTP(ctx, p, code); err != nil {
		return nil, s.mfaError(ctx, err)
	}
	return connect.NewResponse(&iamv1.DisableTotpResponse{}), nil
}

// RotateSigningKey rotates the token signing key on demand.
func (s *Auth) RotateSigningKey(ctx context.Context, req *connect.Request[iamv1.RotateSigningKeyRequest]) (*connect.Response[iamv1.RotateSigningKeyResponse], error) {
	p, err := authenticate(ctx, s.auth, s.log, req.Header())
	if err != nil {
		return nil, err
	}
	ok, err := s.auth.IsAdmin(ctx, p)
	if err != nil {
		return nil, toConnectError(ctx, s.log, err)
	}
	if !ok {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("administrator rights required"))
	}
	kid, err := s.auth.RotateKeys(ctx, true)
	if err != nil {
		return nil, toConnectError(ctx, s.log, err)
	}
	s.log.InfoContext(ctx, "signing key rotated on request", "kid", kid, "by", p.ID)
	return connect.NewResponse(&iamv1.RotateSigningKeyResponse{KeyId: kid}), nil
}
