// Package oauth serves IAM's standards-based HTTP endpoints: OpenID Connect
// discovery, the JWKS, the OAuth2 token endpoint (client_credentials and
// refresh_token grants, RFC 6749), revocation (RFC 7009) and introspection
// (RFC 7662). They exist so that unmodified OAuth2 and OIDC client libraries
// work against IAM; the logic lives in package auth.
package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/photoncloud/core/iam/internal/auth"
)

// Endpoint paths, relative to the issuer URL.
const (
	PathDiscovery  = "/.well-known/openid-configuration"
	PathJWKS       = "/.well-known/jwks.json"
	PathToken      = "/oauth2/token"
	PathRevoke     = "/oauth2/revoke"
	PathIntrospect = "/oauth2/introspect"

	// maxFormBytes bounds a form body. Every legitimate request is a few
	// hundred bytes; the bound stops memory abuse before parsing.
	maxFormBytes = 16 << 10
	// maxParamBytes bounds a single parameter value.
	maxParamBytes = 4096
)

// Handler serves the endpoints.
type Handler struct {
	auth *auth.Service
	log  *slog.Logger
}

// New returns a Handler backed by svc.
func New(svc *auth.Service, log *slog.Logger) *Handler {
	return &Handler{auth: svc, log: log}
}

// Register mounts every endpoint with handle (for example
// server.Server.HandleHTTP).
func (h *Handler) Register(handle func(pattern string, hh http.Handler)) {
	handle(PathDiscovery, http.HandlerFunc(h.discovery))
	handle(PathJWKS, http.HandlerFunc(h.jwks))
	handle(PathToken, http.HandlerFunc(h.token))
	handle(PathRevoke, http.HandlerFunc(h.revoke))
	handle(PathIntrospect, http.HandlerFunc(h.introspect))
}

// oauthError is an RFC 6749 §5.2 error.
type oauthError struct {
	status int
	code   string
	desc   string
	// basicChallenge adds WWW-Authenticate: Basic, required when a client
	// that used the Authorization header failed to authenticate.
	basicChallenge bool
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func badRequest(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: desc}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	// Token responses must not be cached (RFC 6749 §5.1).
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) writeError(ctx context.Context, w http.ResponseWriter, err error) {
	var oe *oauthError
	if !errors.As(err, &oe) {
		h.log.ErrorContext(ctx, "oauth endpoint failed", "error", err.Error())
		oe = &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "internal error"}
	}
	if oe.basicChallenge {
		w.Header().Set("WWW-Authenticate", `Basic realm="iam", charset="UTF-8"`)
	}
	writeJSON(w, oe.status, map[string]string{"error": oe.code, "error_description": oe.desc})
}

// readForm parses a POSTed application/x-www-form-urlencoded body strictly:
// bounded size, no repeated parameters (RFC 6749 §3.2), and only the body
// (credentials in the URL would end up in logs).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "use POST"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("the body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, badRequest("request body too large")
		}
		return nil, badRequest("malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, badRequest("parameter " + truncate(k) + " repeated")
		}
		if len(v[0]) > maxParamBytes {
			return nil, badRequest("parameter " + truncate(k) + " too long")
		}
	}
	return r.PostForm, nil
}

func truncate(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return strconvQuote(s)
}

// strconvQuote quotes without pulling user bytes raw into the response.
func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// clientCreds are credentials a client presented, if any.
type clientCreds struct {
	id, secret string
	basic      bool
}

// readClient extracts client credentials from HTTP Basic (whose parts are
// form-urlencoded, RFC 6749 §2.3.1) or from the body (client_secret_post).
// Using both at once is an error (RFC 6749 §2.3).
func readClient(r *http.Request, form url.Values) (*clientCreds, error) {
	user, pass, hasBasic := r.BasicAuth()
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")
	if hasBasic {
		if postSecret != "" {
			return nil, badRequest("use one client authentication method")
		}
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client authentication failed", basicChallenge: true}
		}
		return &clientCreds{id: id, secret: secret, basic: true}, nil
	}
	if strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
		return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client authentication failed", basicChallenge: true}
	}
	if postSecret != "" {
		return &clientCreds{id: postID, secret: postSecret}, nil
	}
	return nil, nil
}

func (h *Handler) authenticateClient(ctx context.Context, c *clientCreds) error {
	_, err := h.auth.AuthenticateClient(ctx, c.id, c.secret)
	if errors.Is(err, auth.ErrInvalidClient) {
		return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client authentication failed", basicChallenge: c.basic}
	}
	return err
}

func (h *Handler) discovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	iss := h.auth.Config().Issuer
	doc := map[string]any{
		"issuer":                                        iss,
		"jwks_uri":                                      iss + PathJWKS,
		"token_endpoint":                                iss + PathToken,
		"revocation_endpoint":                           iss + PathRevoke,
		"introspection_endpoint":                        iss + PathIntrospect,
		"grant_types_supported":                         []string{"client_credentials", "refresh_token"},
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":    []string{"none", "client_secret_basic", "client_secret_post"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "bearer"},
		"id_token_signing_alg_values_supported":         []string{"EdDSA"},
		"subject_types_supported":                       []string{"public"},
		"response_types_supported":                      []string{"token"},
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_ = json.NewEncoder(w).Encode(doc)
}

func (h *Handler) jwks(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	set := h.auth.Keyring().JWKS()
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// Short, because a rotation adds a key that new tokens use at once;
	// clients also refetch on an unknown kid.
	w.Header().Set("Cache-Control", "public, max-age=60")
	if err := json.NewEncoder(w).Encode(set); err != nil {
		h.log.ErrorContext(r.Context(), "encoding jwks", "error", err.Error())
	}
}

// tokenResponse is RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ts, err := h.grant(ctx, w, r)
	if err != nil {
		h.writeError(ctx, w, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  ts.AccessToken,
		TokenType:    "Bearer",
		ExpiresIn:    int64(ts.ExpiresIn.Seconds()),
		RefreshToken: ts.RefreshToken,
		Scope:        ts.Scope,
	})
}

func (h *Handler) grant(ctx context.Context, w http.ResponseWriter, r *http.Request) (*auth.TokenSet, error) {
	form, err := readForm(w, r)
	if err != nil {
		return nil, err
	}
	client, err := readClient(r, form)
	if err != nil {
		return nil, err
	}
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
		if client == nil {
			return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client authentication required", basicChallenge: true}
		}
		ts, err := h.auth.ClientCredentials(ctx, client.id, client.secret, form.Get("scope"))
		switch {
		case errors.Is(err, auth.ErrInvalidClient):
			return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client authentication failed", basicChallenge: client.basic}
		case errors.Is(err, auth.ErrInvalidScope):
			return nil, &oauthError{status: http.StatusBadRequest, code: "invalid_scope", desc: "malformed scope"}
		}
		return ts, err
	case "refresh_token":
		// Refresh tokens from logins belong to public clients; a client that
		// does authenticate must do so correctly.
		if client != nil {
			if err := h.authenticateClient(ctx, client); err != nil {
				return nil, err
			}
		}
		rt := form.Get("refresh_token")
		if rt == "" {
			return nil, badRequest("refresh_token is required")
		}
		if form.Get("scope") != "" {
			return nil, &oauthError{status: http.StatusBadRequest, code: "invalid_scope", desc: "scope cannot change on refresh"}
		}
		ts, err := h.auth.Refresh(ctx, rt)
		if errors.Is(err, auth.ErrInvalidGrant) {
			return nil, &oauthError{status: http.StatusBadRequest, code: "invalid_grant", desc: "refresh token is invalid, expired or revoked"}
		}
		return ts, err
	case "":
		return nil, badRequest("grant_type is required")
	default:
		return nil, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", desc: "supported: client_credentials, refresh_token"}
	}
}

func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	err := func() error {
		form, err := readForm(w, r)
		if err != nil {
			return err
		}
		client, err := readClient(r, form)
		if err != nil {
			return err
		}
		if client != nil {
			if err := h.authenticateClient(ctx, client); err != nil {
				return err
			}
		}
		tok := form.Get("token")
		if tok == "" {
			return badRequest("token is required")
		}
		return h.auth.Revoke(ctx, tok, form.Get("token_type_hint"))
	}()
	if err != nil {
		h.writeError(ctx, w, err)
		return
	}
	// RFC 7009 §2.2: 200 whether or not the token was known, so the
	// endpoint is no oracle for token validity.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// introspectionResponse is RFC 7662 §2.2.
type introspectionResponse struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	Kind      string   `json:"principal_kind,omitempty"`
}

func (h *Handler) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	resp, err := func() (*introspectionResponse, error) {
		form, err := readForm(w, r)
		if err != nil {
			return nil, err
		}
		// RFC 7662 §2.1: the caller must authenticate, so the endpoint
		// cannot be used to probe tokens anonymously. Either client
		// credentials or a bearer access token of any enabled principal.
		client, err := readClient(r, form)
		if err != nil {
			return nil, err
		}
		switch bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); {
		case client != nil:
			if err := h.authenticateClient(ctx, client); err != nil {
				return nil, err
			}
		case ok:
			if _, err := h.auth.Authenticate(ctx, bearer); err != nil {
				if errors.Is(err, auth.ErrUnauthenticated) {
					w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
					return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_token", desc: "caller's access token is invalid"}
				}
				return nil, err
			}
		default:
			return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "caller authentication required", basicChallenge: true}
		}
		tok := form.Get("token")
		if tok == "" {
			return nil, badRequest("token is required")
		}
		in, err := h.auth.Introspect(ctx, tok)
		if err != nil {
			return nil, err
		}
		if !in.Active {
			return &introspectionResponse{}, nil
		}
		out := &introspectionResponse{
			Active: true, Scope: in.Scope, ClientID: in.ClientID, Username: in.Username, TokenType: in.TokenType,
			Exp: in.ExpiresAt.Unix(), Iat: in.IssuedAt.Unix(), Sub: in.Subject, Aud: in.Audience, Iss: in.Issuer,
			Jti: in.JWTID, Kind: in.PrincipalKind,
		}
		if !in.NotBefore.IsZero() {
			out.Nbf = in.NotBefore.Unix()
		}
		return out, nil
	}()
	if err != nil {
		h.writeError(ctx, w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
