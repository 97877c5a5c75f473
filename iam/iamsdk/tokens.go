package iamsdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// OriginatingTokenHeader carries the access token of the subject a service
// acts for.
const OriginatingTokenHeader = "X-Photon-Originating-Token"

// expiryDelta refreshes tokens this long before they expire, so a token
// never expires in flight.
const expiryDelta = 30 * time.Second

// ClientCredentialsSource returns tokens for a service account through
// IAM's OAuth2 token endpoint (issuer + "/oauth2/token"), cached until
// shortly before they expire.
func ClientCredentialsSource(ctx context.Context, hc *http.Client, issuer, clientID, secret string) oauth2.TokenSource {
	cfg := clientcredentials.Config{ClientID: clientID, ClientSecret: secret,
		TokenURL: strings.TrimSuffix(issuer, "/") + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
	if hc != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	}
	return oauth2.ReuseTokenSourceWithExpiry(nil, cfg.TokenSource(ctx), expiryDelta)
}

// RefreshTokenSource returns tokens for a user from a refresh token.
// Refresh tokens rotate: each use yields a new one, reported to onRotate
// (may be nil) so the caller can persist it.
func RefreshTokenSource(hc *http.Client, baseURL, refreshToken string, onRotate func(string)) oauth2.TokenSource {
	if hc == nil {
		hc = http.DefaultClient
	}
	rs := &refreshSource{client: iamv1connect.NewAuthServiceClient(hc, baseURL), refresh: refreshToken, onRotate: onRotate}
	return oauth2.ReuseTokenSourceWithExpiry(nil, rs, expiryDelta)
}

type refreshSource struct {
	client   iamv1connect.AuthServiceClient
	mu       sync.Mutex
	refresh  string
	onRotate func(string)
}

func (s *refreshSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := s.client.Refresh(ctx, connect.NewRequest(&iamv1.RefreshRequest{RefreshToken: s.refresh}))
	if err != nil {
		return nil, fmt.Errorf("iamsdk: refreshing token: %w", err)
	}
	ts := resp.Msg.GetTokens()
	s.refresh = ts.GetRefreshToken()
	if s.onRotate != nil {
		s.onRotate(s.refresh)
	}
	return &oauth2.Token{AccessToken: ts.GetAccessToken(), TokenType: "Bearer",
		Expiry: time.Now().Add(time.Duration(ts.GetExpiresIn()) * time.Second)}, nil
}

// NewClientInterceptor attaches a token from ts to every request, and the
// originating subject's token when ctx carries one.
func NewClientInterceptor(ts oauth2.TokenSource) connect.Interceptor {
	return &clientInterceptor{ts: ts}
}

type clientInterceptor struct{ ts oauth2.TokenSource }

func (c *clientInterceptor) attach(ctx context.Context, h http.Header) error {
	tok, err := c.ts.Token()
	if err != nil {
		return connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("iamsdk: no access token: %w", err))
	}
	if tok.AccessToken == "" {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("iamsdk: empty access token"))
	}
	h.Set("Authorization", "Bearer "+tok.AccessToken)
	if s, ok := SubjectFromContext(ctx); ok && s.token != "" && s.token != tok.AccessToken {
		h.Set(OriginatingTokenHeader, s.token)
	}
	return nil
}

func (c *clientInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			if err := c.attach(ctx, req.Header()); err != nil {
				return nil, err
			}
		}
		return next(ctx, req)
	}
}

func (c *clientInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		// Errors surface on the first Send/Receive; an unauthenticated
		// stream is refused by the server anyway.
		_ = c.attach(ctx, conn.RequestHeader())
		return conn
	}
}

func (c *clientInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
