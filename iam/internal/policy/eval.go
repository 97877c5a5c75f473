package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Request is one question: may Principal use Permission on Resource?
type Request struct {
	// Principal is a member string of a user or service account.
	Principal string
	// Groups are the ids of the groups the principal belongs to.
	Groups     []string
	Permission string
	Resource   string
	// Time, SourceIP, request and resource attributes feed conditions.
	Time          time.Time
	SourceIP      string
	RequestAttrs  map[string]string
	ResourceAttrs map[string]string
}

// Reason says why a decision came out as it did.
type Reason int

// Reasons, matching iam.v1.Reason.
const (
	ReasonUnspecified Reason = iota
	ReasonAllowed
	ReasonDenied
	ReasonDenyConditionError
	ReasonNoMatchingBinding
)

// Decision is the answer to a Request.
type Decision struct {
	Allowed    bool
	Reason     Reason
	BindingIDs []string
	DenyIDs    []string
	Revision   uint64
	// Conditional is true when a condition was evaluated: the answer may
	// differ for other attributes or another time, so it must not be
	// cached by request identity alone.
	Conditional bool
	// Trace lists every policy considered (Explain only).
	Trace []Explained
}

// Kind of an explained policy.
type Kind int

// Kinds.
const (
	KindBinding Kind = iota + 1
	KindDeny
)

// CondResult is the outcome of a condition.
type CondResult int

// Condition outcomes, matching iam.v1.ExplainedPolicy.ConditionResult.
const (
	CondNone CondResult = iota + 1
	CondTrue
	CondFalse
	CondError
	CondNotEvaluated
)

// Explained is one binding or deny policy met on the way up.
type Explained struct {
	Kind              Kind
	ID                string
	Resource          string
	Role              string
	PrincipalMatched  bool
	PermissionMatched bool
	Condition         CondResult
	Applied           bool
	Detail            string
}

func (r *Request) keys() []string {
	out := make([]string, 0, 1+len(r.Groups))
	out = append(out, r.Principal)
	for _, g := range r.Groups {
		out = append(out, MemberGroup+g)
	}
	return out
}

func (r *Request) attrs() *Attributes {
	kind, id, _ := strings.Cut(r.Principal, ":")
	return &Attributes{
		Time: r.Time, SourceIP: r.SourceIP, Request: r.RequestAttrs, Resource: r.Resource,
		ResourceAttrs: r.ResourceAttrs, PrincipalID: id, PrincipalKind: kind,
	}
}

func (d *deny) names(keys []string) bool {
	for _, k := range keys {
		if _, ok := d.exceptions[k]; ok {
			return false
		}
	}
	if d.all {
		return true
	}
	for _, k := range keys {
		if _, ok := d.principals[k]; ok {
			return true
		}
	}
	return false
}

func (d *deny) covers(perm string) bool {
	if d.allPerms {
		return true
	}
	for _, p := range d.d.DeniedPermissions {
		if PatternMatches(p, perm) {
			return true
		}
	}
	return false
}

// evalDeny evaluates a deny's condition: applies when true, erroring or
// absent.
func evalDeny(d *deny, a *Attributes) (bool, CondResult) {
	switch {
	case d.condErr != nil:
		return true, CondError
	case d.prg == nil:
		return true, CondNone
	}
	ok, err := Eval(d.prg, a)
	switch {
	case err != nil:
		return true, CondError
	case ok:
		return true, CondTrue
	}
	return false, CondFalse
}

// evalBinding evaluates a binding's condition: allows only when true or
// absent.
func evalBinding(b *binding, a *Attributes) (bool, CondResult) {
	switch {
	case b.condErr != nil:
		return false, CondError
	case b.prg == nil:
		return true, CondNone
	}
	ok, err := Eval(b.prg, a)
	switch {
	case err != nil:
		return false, CondError
	case ok:
		return true, CondTrue
	}
	return false, CondFalse
}

// Decide answers a request: deny policies first (any that applies denies),
// then bindings (any that applies allows), else deny.
func (ix *Index) Decide(r *Request) Decision {
	keys := r.keys()
	anc := Ancestors(r.Resource)
	var attrs *Attributes
	lazy := func() *Attributes {
		if attrs == nil {
			attrs = r.attrs()
		}
		return attrs
	}
	dec := Decision{Revision: ix.revision}
	for _, res := range anc {
		n := ix.nodes[res]
		if n == nil {
			continue
		}
		for _, d := range n.denies {
			if !d.names(keys) || !d.covers(r.Permission) {
				continue
			}
			if d.prg != nil {
				dec.Conditional = true
			}
			applies, cr := evalDeny(d, lazy())
			if applies {
				dec.Reason = ReasonDenied
				if cr == CondError {
					dec.Reason = ReasonDenyConditionError
				}
				dec.DenyIDs = []string{d.d.ID}
				return dec
			}
		}
	}
	for _, res := range anc {
		n := ix.nodes[res]
		if n == nil {
			continue
		}
		for _, k := range keys {
			for _, b := range n.byMember[k] {
				if !b.grantable || !b.role.has(r.Permission) {
					continue
				}
				if b.prg != nil {
					dec.Conditional = true
				}
				if ok, _ := evalBinding(b, lazy()); ok {
					dec.Allowed, dec.Reason, dec.BindingIDs = true, ReasonAllowed, []string{b.b.ID}
					return dec
				}
			}
		}
	}
	dec.Reason = ReasonNoMatchingBinding
	return dec
}

// Explain decides like Decide but visits every binding and deny policy on
// the resource and its ancestors and records why each did or did not apply.
// Every applying policy is listed among the deciding ids.
func (ix *Index) Explain(r *Request) Decision {
	keys := r.keys()
	a := r.attrs()
	dec := Decision{Revision: ix.revision}
	var denied, condErr bool
	for _, res := range Ancestors(r.Resource) {
		n := ix.nodes[res]
		if n == nil {
			continue
		}
		for _, d := range n.denies {
			e := Explained{Kind: KindDeny, ID: d.d.ID, Resource: res, Condition: CondNotEvaluated,
				PrincipalMatched: d.names(keys), PermissionMatched: d.covers(r.Permission)}
			if e.PrincipalMatched && e.PermissionMatched {
				e.Applied, e.Condition = evalDeny(d, a)
				dec.Conditional = dec.Conditional || d.prg != nil
				if e.Applied {
					denied, condErr = true, condErr || e.Condition == CondError
					dec.DenyIDs = append(dec.DenyIDs, d.d.ID)
				}
			}
			e.Detail = denyDetail(e)
			dec.Trace = append(dec.Trace, e)
		}
	}
	for _, res := range Ancestors(r.Resource) {
		n := ix.nodes[res]
		if n == nil {
			continue
		}
		for _, b := range n.bindings {
			e := Explained{Kind: KindBinding, ID: b.b.ID, Resource: res, Role: b.b.Role, Condition: CondNotEvaluated}
			for _, k := range keys {
				e.PrincipalMatched = e.PrincipalMatched || slices.Contains(b.b.Members, k)
			}
			e.PermissionMatched = b.role != nil && b.role.has(r.Permission)
			if e.PrincipalMatched && e.PermissionMatched && b.grantable {
				var ok bool
				ok, e.Condition = evalBinding(b, a)
				dec.Conditional = dec.Conditional || b.prg != nil
				if ok && !denied {
					e.Applied = true
					dec.BindingIDs = append(dec.BindingIDs, b.b.ID)
				}
			}
			e.Detail = bindingDetail(e, b, denied)
			dec.Trace = append(dec.Trace, e)
		}
	}
	switch {
	case denied && condErr:
		dec.Reason = ReasonDenyConditionError
	case denied:
		dec.Reason = ReasonDenied
	case len(dec.BindingIDs) > 0:
		dec.Allowed, dec.Reason = true, ReasonAllowed
	default:
		dec.Reason = ReasonNoMatchingBinding
	}
	return dec
}

func denyDetail(e Explained) string {
	switch {
	case !e.PrincipalMatched:
		return "deny policy does not name the principal (or exempts it)"
	case !e.PermissionMatched:
		return "deny policy does not cover the permission"
	case e.Condition == CondError:
		return "deny policy applies: its condition failed to evaluate (fail closed)"
	case e.Condition == CondFalse:
		return "deny policy's condition is false"
	}
	return "deny policy applies"
}

func bindingDetail(e Explained, b *binding, denied bool) string {
	switch {
	case b.role == nil:
		return fmt.Sprintf("role %s does not exist", b.b.Role)
	case !e.PrincipalMatched:
		return "the principal is not a member (directly or through a group)"
	case !e.PermissionMatched:
		return fmt.Sprintf("role %s does not contain the permission", b.b.Role)
	case !b.grantable:
		return fmt.Sprintf("role %s cannot be granted on this resource", b.b.Role)
	case e.Condition == CondError:
		return "condition failed to evaluate, so the binding does not allow"
	case e.Condition == CondFalse:
		return "condition is false"
	case denied:
		return "would allow, but a deny policy applies"
	}
	return "binding allows"
}

// Holds reports whether the principal holds every permission matched by
// pattern on resource unconditionally: some unconditional binding on the
// resource or above grants a role covering the pattern, and no deny policy
// there names the principal for an overlapping permission, whatever its
// condition. Used to stop privilege escalation, so it errs on "no".
func (ix *Index) Holds(principal string, groups []string, pattern, resource string) bool {
	r := &Request{Principal: principal, Groups: groups}
	keys := r.keys()
	anc := Ancestors(resource)
	for _, res := range anc {
		n := ix.nodes[res]
		if n == nil {
			continue
		}
		for _, d := range n.denies {
			if !d.names(keys) {
				continue
			}
			if d.allPerms {
				return false
			}
			for _, p := range d.d.DeniedPermissions {
				if PatternsOverlap(p, pattern) {
					return false
				}
			}
		}
	}
	for _, res := range anc {
		n := ix.nodes[res]
		if n == nil {
			continue
		}
		for _, k := range keys {
			for _, b := range n.byMember[k] {
				if !b.grantable || b.prg != nil || b.condErr != nil {
					continue
				}
				for _, p := range b.role.patterns {
					if PatternCovers(p, pattern) {
						return true
					}
				}
			}
		}
	}
	return false
}

// DenyNames reports whether deny policy d (by the index's view) names the
// principal; used to stop a principal from editing a deny policy that
// targets it.
func DenyNames(d []string, exceptions []string, principal string, groups []string) bool {
	cd := &deny{principals: set(d), exceptions: set(exceptions)}
	_, cd.all = cd.principals[AllPrincipals]
	r := &Request{Principal: principal, Groups: groups}
	return cd.names(r.keys())
}
