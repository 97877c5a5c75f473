// Package policy is IAM's authorization engine: the syntax of resources,
// permissions and members, the built-in roles, validation of roles,
// bindings and deny policies, CEL conditions, and the compiled Index that
// decides requests and explains its decisions.
//
// The package is pure: it reads policy records (package store's types) and
// requests, and never does I/O, so it can be tested exhaustively and its
// decisions compared with a reference evaluator.
package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Root is the resource at the top of the hierarchy: the whole platform.
const Root = "root"

// Limits on names. They bound the work one request can cause.
const (
	MaxResourceLen   = 1024
	MaxSegmentLen    = 128
	MaxDepth         = 32
	MaxPermissionLen = 128
	MaxMemberLen     = 128
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("policy: invalid")

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// ValidateResource checks a resource name: "root", or "orgs/<org>" followed
// by any number of segments. Segments are non-empty, at most MaxSegmentLen
// bytes of [A-Za-z0-9._~@:+=-], and not "." or "..".
func ValidateResource(r string) error {
	if r == Root {
		return nil
	}
	if len(r) > MaxResourceLen {
		return invalidf("resource longer than %d bytes", MaxResourceLen)
	}
	if !strings.HasPrefix(r, "orgs/") {
		return invalidf("resource must be %q or start with \"orgs/<org>\"", Root)
	}
	segs := strings.Split(r, "/")
	if len(segs) > MaxDepth {
		return invalidf("resource deeper than %d segments", MaxDepth)
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || len(s) > MaxSegmentLen {
			return invalidf("resource has an empty, dot or overlong segment")
		}
		for i := 0; i < len(s); i++ {
			if !segmentByte(s[i]) {
				return invalidf("resource segment has a character outside [A-Za-z0-9._~@:+=-]")
			}
		}
	}
	return nil
}

func segmentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("._~@:+=-", c) >= 0
}

// Ancestors returns the resource itself and every resource above it, the
// nearest first and Root last. The resource must be valid. "orgs" alone is
// not a resource, so it is skipped.
func Ancestors(r string) []string {
	out := make([]string, 0, 8)
	if r == Root {
		return append(out, Root)
	}
	for {
		out = append(out, r)
		i := strings.LastIndexByte(r, '/')
		if i <= len("orgs") {
			break
		}
		r = r[:i]
	}
	return append(out, Root)
}

// IsAncestorOrSelf reports whether a is r or above it.
func IsAncestorOrSelf(a, r string) bool {
	return a == Root || a == r || strings.HasPrefix(r, a+"/")
}

// Org returns the organization resource ("orgs/<org>") a resource belongs
// to, or "" for Root.
func Org(r string) string {
	if r == Root {
		return ""
	}
	rest := strings.TrimPrefix(r, "orgs/")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return "orgs/" + rest
}

// Service returns the service segment of a service resource
// ("orgs/o/projects/p/<service>/..."), or "".
func Service(r string) string {
	segs := strings.Split(r, "/")
	if len(segs) >= 5 && segs[2] == "projects" {
		return segs[4]
	}
	return ""
}

// Member prefixes.
const (
	MemberUser           = "user:"
	MemberGroup          = "group:"
	MemberServiceAccount = "serviceAccount:"
	// AllPrincipals, in a deny policy, names every principal.
	AllPrincipals = "*"
)

// ValidateMember checks a member string: user:<id>, group:<id> or
// serviceAccount:<id>, the id being 1-100 bytes of [a-z0-9_-].
func ValidateMember(m string) error {
	if len(m) > MaxMemberLen {
		return invalidf("member longer than %d bytes", MaxMemberLen)
	}
	var id string
	switch {
	case strings.HasPrefix(m, MemberUser):
		id = m[len(MemberUser):]
	case strings.HasPrefix(m, MemberGroup):
		id = m[len(MemberGroup):]
	case strings.HasPrefix(m, MemberServiceAccount):
		id = m[len(MemberServiceAccount):]
	default:
		return invalidf("member %q must be user:<id>, group:<id> or serviceAccount:<id>", clip(m))
	}
	if id == "" {
		return invalidf("member %q has an empty id", clip(m))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return invalidf("member id has a character outside [a-z0-9_-]")
		}
	}
	return nil
}

// ValidatePrincipal checks a member that can make requests: a user or a
// service account (groups do not authenticate).
func ValidatePrincipal(m string) error {
	if err := ValidateMember(m); err != nil {
		return err
	}
	if strings.HasPrefix(m, MemberGroup) {
		return invalidf("a group is not a principal")
	}
	return nil
}

// ValidatePermission checks an exact permission: service.resource.verb,
// each part a lower-case letter followed by letters and digits.
func ValidatePermission(p string) error {
	if len(p) > MaxPermissionLen {
		return invalidf("permission longer than %d bytes", MaxPermissionLen)
	}
	parts := strings.Split(p, ".")
	if len(parts) != 3 {
		return invalidf("permission %q must be service.resource.verb", clip(p))
	}
	for _, s := range parts {
		if !identPart(s) {
			return invalidf("permission %q must be service.resource.verb of letters and digits", clip(p))
		}
	}
	return nil
}

// ValidatePermissionPattern accepts an exact permission, or "*",
// "service.*" or "service.resource.*", which match every permission with
// that prefix. No other wildcard form exists.
func ValidatePermissionPattern(p string) error {
	if p == "*" {
		return nil
	}
	if len(p) > MaxPermissionLen {
		return invalidf("permission longer than %d bytes", MaxPermissionLen)
	}
	prefix, ok := strings.CutSuffix(p, ".*")
	if !ok {
		return ValidatePermission(p)
	}
	parts := strings.Split(prefix, ".")
	if len(parts) > 2 {
		return invalidf("permission pattern %q: '*' must replace a whole trailing part", clip(p))
	}
	for _, s := range parts {
		if !identPart(s) {
			return invalidf("permission pattern %q is malformed", clip(p))
		}
	}
	return nil
}

func identPart(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// PatternMatches reports whether pattern (valid per
// ValidatePermissionPattern) matches the exact permission perm.
func PatternMatches(pattern, perm string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(perm, prefix)
	}
	return pattern == perm
}

// PatternCovers reports whether every permission matched by q is matched
// by p.
func PatternCovers(p, q string) bool {
	if p == "*" {
		return true
	}
	if q == "*" {
		return false
	}
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		return strings.HasPrefix(q, prefix)
	}
	return p == q
}

// PatternsOverlap reports whether some permission matches both patterns.
func PatternsOverlap(p, q string) bool { return PatternCovers(p, q) || PatternCovers(q, p) }

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
