// Package api implements IAM's Connect services (iam.v1.IdentityService and
// iam.v1.AuthService): input validation, authentication of the caller,
// pagination and the mapping between wire messages and store objects. The
// flows themselves live in package auth and the persistence in package
// store.
package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/photoncloud/core/iam/internal/auth"
	"github.com/photoncloud/core/iam/internal/password"
	"github.com/photoncloud/core/iam/internal/store"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
)

// Limits on caller-supplied fields. They keep records small and log lines
// sane; anything larger is refused before it reaches the store.
const (
	maxDisplayName  = 256
	maxEmail        = 254
	maxDescription  = 1024
	maxID           = 64
	maxEtag         = 32
	maxFilter       = 256
	maxPageToken    = 512
	maxTOTPCode     = 16
	maxRecoveryCode = 64
	defaultPage     = 50
	maxPage         = 1000
)

// namePattern is the shape of user, group and service account names: safe
// in URLs, logs and policy expressions without escaping.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9._-]{1,62}$`)

// filterNamePattern is what a name filter may contain.
var filterNamePattern = regexp.MustCompile(`^[a-z0-9._-]{1,63}$`)

func invalid(format string, a ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, a...))
}

// toConnectError maps domain errors to RPC codes. Unexpected errors are
// logged and replaced by a generic message so internals never leak.
func toConnectError(ctx context.Context, log *slog.Logger, err error) error {
	var ce *connect.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return err
	case errors.Is(err, store.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, errors.New(strings.TrimPrefix(err.Error(), "store: ")))
	case errors.Is(err, store.ErrAlreadyExists):
		return connect.NewError(connect.CodeAlreadyExists, errors.New(strings.TrimPrefix(err.Error(), "store: ")))
	case errors.Is(err, store.ErrEtagMismatch):
		return connect.NewError(connect.CodeAborted, errors.New("etag mismatch: the object changed; read it again"))
	case errors.Is(err, store.ErrInvalid):
		return connect.NewError(connect.CodeFailedPrecondition, errors.New(strings.TrimPrefix(err.Error(), "store: ")))
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	log.ErrorContext(ctx, "request failed", "error", err.Error())
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}

func checkName(field, v string) error {
	if !namePattern.MatchString(v) {
		return invalid("%s must be 2-63 characters of a-z, 0-9, '.', '_', '-', starting with a letter", field)
	}
	return nil
}

// checkText accepts printable UTF-8 up to max runes.
func checkText(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return invalid("%s is not valid UTF-8", field)
	}
	if utf8.RuneCountInString(v) > max {
		return invalid("%s is longer than %d characters", field, max)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return invalid("%s contains control characters", field)
		}
	}
	return nil
}

func checkEmail(v string) error {
	if v == "" {
		return nil
	}
	if len(v) > maxEmail || strings.ContainsAny(v, " \t\r\n<>") || strings.Count(v, "@") != 1 ||
		strings.HasPrefix(v, "@") || strings.HasSuffix(v, "@") {
		return invalid("email is not a valid address")
	}
	return checkText("email", v, maxEmail)
}

func checkID(field, v string) error {
	if v == "" {
		return invalid("%s is required", field)
	}
	if len(v) > maxID || !namePattern.MatchString(strings.ReplaceAll(v, "_", "-")) {
		return invalid("%s is malformed", field)
	}
	return nil
}

func checkEtag(v string) error {
	if len(v) > maxEtag {
		return invalid("etag is malformed")
	}
	return nil
}

func checkPassword(pw string) error {
	if err := password.CheckPolicy(pw); err != nil {
		switch {
		case errors.Is(err, password.ErrTooShort):
			return invalid("password must have at least %d characters", password.MinLength)
		case errors.Is(err, password.ErrTooLong):
			return invalid("password must have at most %d characters", password.MaxLength)
		case errors.Is(err, password.ErrTooCommon):
			return invalid("password is too common")
		}
		return invalid("password is not acceptable")
	}
	return nil
}

// idEncoding is lower-case base32 without padding: ids stay valid names
// (after the prefix) and never contain '.', which client secrets use as a
// separator.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newID(prefix string) (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("api: generating id: %w", err)
	}
	return prefix + idEncoding.EncodeToString(b), nil
}

// --- pagination and filters ---

// filter is a parsed list filter: every present term must hold.
type filter struct {
	name       string
	namePrefix bool
	disabled   *bool
}

func (f filter) match(name string, disabled bool) bool {
	if f.name != "" {
		if f.namePrefix && !strings.HasPrefix(name, f.name) {
			return false
		}
		if !f.namePrefix && name != f.name {
			return false
		}
	}
	return f.disabled == nil || *f.disabled == disabled
}

func parseFilter(s string, allowName, allowDisabled bool) (filter, error) {
	var f filter
	if len(s) > maxFilter {
		return f, invalid("filter is longer than %d bytes", maxFilter)
	}
	for _, term := range strings.Fields(s) {
		k, v, ok := strings.Cut(term, "=")
		switch {
		case !ok:
			return f, invalid("filter term %q is not key=value", truncate(term))
		case k == "name" && allowName:
			f.name, f.namePrefix = strings.CutSuffix(v, "*")
			if f.name != "" && !filterNamePattern.MatchString(f.name) {
				return f, invalid("filter name value is malformed")
			}
		case k == "disabled" && allowDisabled:
			b := v == "true"
			if v != "true" && v != "false" {
				return f, invalid("filter disabled must be true or false")
			}
			f.disabled = &b
		default:
			return f, invalid("unknown filter key %q", truncate(k))
		}
	}
	return f, nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32]
	}
	return s
}

// pageQuery turns page_size, page_token and filter into a store query. The
// token carries a digest of the filter (and of the listing's scope, such as
// the parent id) so it cannot be replayed against a different listing.
func pageQuery(size int32, tok, scope string) (store.ListQuery, error) {
	q := store.ListQuery{PageSize: defaultPage}
	switch {
	case size < 0:
		return q, invalid("page_size must not be negative")
	case size > maxPage:
		q.PageSize = maxPage
	case size > 0:
		q.PageSize = int(size)
	}
	if tok == "" {
		return q, nil
	}
	if len(tok) > maxPageToken {
		return q, invalid("page_token is malformed")
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return q, invalid("page_token is malformed")
	}
	digest, after, ok := strings.Cut(string(raw), ":")
	if !ok || digest != scopeDigest(scope) || after == "" {
		return q, invalid("page_token does not belong to this listing")
	}
	q.After = after
	return q, nil
}

func nextToken(after, scope string) string {
	if after == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(scopeDigest(scope) + ":" + after))
}

func scopeDigest(scope string) string {
	h := sha256.Sum256([]byte(scope))
	return hex.EncodeToString(h[:8])
}

// --- callers ---

func bearer(h http.Header) (string, bool) {
	return strings.CutPrefix(h.Get("Authorization"), "Bearer ")
}

// authenticate returns the caller of a request carrying a bearer token.
func authenticate(ctx context.Context, svc *auth.Service, log *slog.Logger, h http.Header) (*auth.Principal, error) {
	tok, ok := bearer(h)
	if !ok || tok == "" {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("an access token is required"))
	}
	p, err := svc.Authenticate(ctx, tok)
	if errors.Is(err, auth.ErrUnauthenticated) {
		return nil, connect.NewError(connect.CodeUnauthenticated, auth.ErrUnauthenticated)
	}
	if err != nil {
		return nil, toConnectError(ctx, log, err)
	}
	return p, nil
}

// --- conversions ---

func userPB(u *store.User) *iamv1.User {
	return &iamv1.User{
		Id: u.ID, Name: u.Name, DisplayName: u.DisplayName, Email: u.Email, Disabled: u.Disabled,
		MfaEnabled: u.TOTPSecret != "", CreateTime: timestamppb.New(u.CreateTime),
		UpdateTime: timestamppb.New(u.UpdateTime), Etag: u.ETag(),
	}
}

func groupPB(g *store.Group) *iamv1.Group {
	return &iamv1.Group{
		Id: g.ID, Name: g.Name, DisplayName: g.DisplayName, Description: g.Description,
		MemberCount: int32(g.MemberCount), CreateTime: timestamppb.New(g.CreateTime),
		UpdateTime: timestamppb.New(g.UpdateTime), Etag: g.ETag(),
	}
}

func serviceAccountPB(sa *store.ServiceAccount) *iamv1.ServiceAccount {
	return &iamv1.ServiceAccount{
		Id: sa.ID, Name: sa.Name, DisplayName: sa.DisplayName, Description: sa.Description,
		Disabled: sa.Disabled, CreateTime: timestamppb.New(sa.CreateTime),
		UpdateTime: timestamppb.New(sa.UpdateTime), Etag: sa.ETag(),
	}
}

func keyPB(k *store.ServiceAccountKey) *iamv1.ServiceAccountKey {
	out := &iamv1.ServiceAccountKey{
		Id: k.ID, ServiceAccountId: k.ServiceAccountID, DisplayName: k.DisplayName, Disabled: k.Disabled,
		CreateTime: timestamppb.New(k.CreateTime), UpdateTime: timestamppb.New(k.UpdateTime), Etag: k.ETag(),
	}
	if !k.ExpireTime.IsZero() {
		out.ExpireTime = timestamppb.New(k.ExpireTime)
	}
	return out
}

func convert[S, D any](in []S, f func(S) D) []D {
	out := make([]D, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
