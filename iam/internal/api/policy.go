package api

import (
	"context"
	"log/slog"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/photoncloud/core/iam/internal/authz"
	"github.com/photoncloud/core/iam/internal/policy"
	"github.com/photoncloud/core/iam/internal/store"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// Policy serves iam.v1.PolicyService. Authorization of each call is done
// by authz.Authorizer, against the caller's own permissions.
type Policy struct {
	az      *authz.Authorizer
	callers *callerCache
	log     *slog.Logger
}

var _ iamv1connect.PolicyServiceHandler = (*Policy)(nil)

// NewPolicy returns the PolicyService implementation. It shares the
// AuthzService's cache of verified callers.
func NewPolicy(a *Authz) *Policy { return &Policy{az: a.az, callers: a.callers, log: a.log} }

// policyCall authenticates the caller and runs body with it as the actor.
func policyCall[Req, Resp any](s *Policy, ctx context.Context, req *connect.Request[Req],
	body func(act authz.Actor, m *Req) (*Resp, error)) (*connect.Response[Resp], error) {
	caller, err := s.callers.member(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	act := authz.Actor{Principal: caller, SourceIP: peerIP(req.Peer().Addr), RequestID: req.Header().Get("X-Request-Id")}
	out, err := body(act, req.Msg)
	if err != nil {
		return nil, authzError(ctx, s.log, err)
	}
	return connect.NewResponse(out), nil
}

func condFromPB(c *iamv1.Condition) *store.Condition {
	if c == nil || (c.GetExpression() == "" && c.GetTitle() == "") {
		return nil
	}
	return &store.Condition{Expression: c.GetExpression(), Title: c.GetTitle()}
}

func condPBOf(c *store.Condition) *iamv1.Condition {
	if c == nil {
		return nil
	}
	return &iamv1.Condition{Expression: c.Expression, Title: c.Title}
}

func metaTimes(m store.Meta) (*timestamppb.Timestamp, *timestamppb.Timestamp) {
	if m.CreateTime.IsZero() {
		return nil, nil
	}
	return timestamppb.New(m.CreateTime), timestamppb.New(m.UpdateTime)
}

func rolePB(r *store.Role, builtIn bool) *iamv1.Role {
	out := &iamv1.Role{Name: r.Name, Parent: r.Parent, Title: r.Title, Description: r.Description,
		Permissions: r.Permissions, BuiltIn: builtIn}
	if !builtIn {
		out.Etag = r.ETag()
		out.CreateTime, out.UpdateTime = metaTimes(r.Meta)
	}
	return out
}

func roleFromPB(r *iamv1.Role) (*store.Role, error) {
	if r == nil {
		return nil, invalid("role is required")
	}
	return &store.Role{Name: r.GetName(), Parent: r.GetParent(), Title: r.GetTitle(), Description: r.GetDescription(),
		Permissions: r.GetPermissions()}, nil
}

func bindingPB(b *store.Binding) *iamv1.Binding {
	out := &iamv1.Binding{Id: b.ID, Resource: b.Resource, Role: b.Role, Members: b.Members,
		Condition: condPBOf(b.Condition), Etag: b.ETag()}
	out.CreateTime, out.UpdateTime = metaTimes(b.Meta)
	return out
}

func bindingFromPB(b *iamv1.Binding) (*store.Binding, error) {
	if b == nil {
		return nil, invalid("binding is required")
	}
	return &store.Binding{ID: b.GetId(), Resource: b.GetResource(), Role: b.GetRole(), Members: b.GetMembers(),
		Condition: condFromPB(b.GetCondition())}, nil
}

func denyPB(d *store.DenyPolicy) *iamv1.DenyPolicy {
	out := &iamv1.DenyPolicy{Id: d.ID, Resource: d.Resource, Description: d.Description,
		DeniedPrincipals: d.DeniedPrincipals, ExceptionPrincipals: d.ExceptionPrincipals,
		DeniedPermissions: d.DeniedPermissions, Condition: condPBOf(d.Condition), Etag: d.ETag()}
	out.CreateTime, out.UpdateTime = metaTimes(d.Meta)
	return out
}

func denyFromPB(d *iamv1.DenyPolicy) (*store.DenyPolicy, error) {
	if d == nil {
		return nil, invalid("deny_policy is required")
	}
	return &store.DenyPolicy{ID: d.GetId(), Resource: d.GetResource(), Description: d.GetDescription(),
		DeniedPrincipals: d.GetDeniedPrincipals(), ExceptionPrincipals: d.GetExceptionPrincipals(),
		DeniedPermissions: d.GetDeniedPermissions(), Condition: condFromPB(d.GetCondition())}, nil
}

func checkPolicyID(id string) error {
	if id == "" || len(id) > maxID {
		return invalid("id is required and at most %d bytes", maxID)
	}
	return nil
}

// --- roles ---

// CreateRole defines a custom role.
func (s *Policy) CreateRole(ctx context.Context, req *connect.Request[iamv1.CreateRoleRequest]) (*connect.Response[iamv1.CreateRoleResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.CreateRoleRequest) (*iamv1.CreateRoleResponse, error) {
		r, err := roleFromPB(m.GetRole())
		if err != nil {
			return nil, err
		}
		r, rev, err := s.az.CreateRole(ctx, act, r)
		if err != nil {
			return nil, err
		}
		return &iamv1.CreateRoleResponse{Role: rolePB(r, false), ConsistencyToken: authz.Token(rev)}, nil
	})
}

// GetRole returns a role.
func (s *Policy) GetRole(ctx context.Context, req *connect.Request[iamv1.GetRoleRequest]) (*connect.Response[iamv1.GetRoleResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.GetRoleRequest) (*iamv1.GetRoleResponse, error) {
		r, builtIn, err := s.az.GetRole(ctx, act, m.GetName())
		if err != nil {
			return nil, err
		}
		return &iamv1.GetRoleResponse{Role: rolePB(r, builtIn)}, nil
	})
}

// ListRoles lists built-in roles and the custom roles of a parent.
func (s *Policy) ListRoles(ctx context.Context, req *connect.Request[iamv1.ListRolesRequest]) (*connect.Response[iamv1.ListRolesResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.ListRolesRequest) (*iamv1.ListRolesResponse, error) {
		rs, err := s.az.ListRoles(ctx, act, m.GetParent())
		if err != nil {
			return nil, err
		}
		out := &iamv1.ListRolesResponse{}
		for _, r := range rs {
			out.Roles = append(out.Roles, rolePB(r, policy.IsBuiltinRole(r.Name)))
		}
		return out, nil
	})
}

// UpdateRole changes a custom role.
func (s *Policy) UpdateRole(ctx context.Context, req *connect.Request[iamv1.UpdateRoleRequest]) (*connect.Response[iamv1.UpdateRoleResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.UpdateRoleRequest) (*iamv1.UpdateRoleResponse, error) {
		if err := checkEtag(m.GetEtag()); err != nil {
			return nil, err
		}
		r, err := roleFromPB(m.GetRole())
		if err != nil {
			return nil, err
		}
		r, rev, err := s.az.UpdateRole(ctx, act, r, m.GetEtag())
		if err != nil {
			return nil, err
		}
		return &iamv1.UpdateRoleResponse{Role: rolePB(r, false), ConsistencyToken: authz.Token(rev)}, nil
	})
}

// DeleteRole deletes an unused custom role.
func (s *Policy) DeleteRole(ctx context.Context, req *connect.Request[iamv1.DeleteRoleRequest]) (*connect.Response[iamv1.DeleteRoleResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.DeleteRoleRequest) (*iamv1.DeleteRoleResponse, error) {
		if err := checkEtag(m.GetEtag()); err != nil {
			return nil, err
		}
		rev, err := s.az.DeleteRole(ctx, act, m.GetName(), m.GetEtag())
		if err != nil {
			return nil, err
		}
		return &iamv1.DeleteRoleResponse{ConsistencyToken: authz.Token(rev)}, nil
	})
}

// --- bindings ---

// CreateBinding grants a role.
func (s *Policy) CreateBinding(ctx context.Context, req *connect.Request[iamv1.CreateBindingRequest]) (*connect.Response[iamv1.CreateBindingResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.CreateBindingRequest) (*iamv1.CreateBindingResponse, error) {
		b, err := bindingFromPB(m.GetBinding())
		if err != nil {
			return nil, err
		}
		b, rev, err := s.az.CreateBinding(ctx, act, b)
		if err != nil {
			return nil, err
		}
		return &iamv1.CreateBindingResponse{Binding: bindingPB(b), ConsistencyToken: authz.Token(rev)}, nil
	})
}

// GetBinding returns one binding.
func (s *Policy) GetBinding(ctx context.Context, req *connect.Request[iamv1.GetBindingRequest]) (*connect.Response[iamv1.GetBindingResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.GetBindingRequest) (*iamv1.GetBindingResponse, error) {
		if err := checkPolicyID(m.GetId()); err != nil {
			return nil, err
		}
		b, err := s.az.GetBinding(ctx, act, m.GetId())
		if err != nil {
			return nil, err
		}
		return &iamv1.GetBindingResponse{Binding: bindingPB(b)}, nil
	})
}

// ListBindings lists the bindings on a resource.
func (s *Policy) ListBindings(ctx context.Context, req *connect.Request[iamv1.ListBindingsRequest]) (*connect.Response[iamv1.ListBindingsResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.ListBindingsRequest) (*iamv1.ListBindingsResponse, error) {
		bs, err := s.az.ListBindings(ctx, act, m.GetResource())
		if err != nil {
			return nil, err
		}
		return &iamv1.ListBindingsResponse{Bindings: convert(bs, bindingPB)}, nil
	})
}

// UpdateBinding changes a binding.
func (s *Policy) UpdateBinding(ctx context.Context, req *connect.Request[iamv1.UpdateBindingRequest]) (*connect.Response[iamv1.UpdateBindingResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.UpdateBindingRequest) (*iamv1.UpdateBindingResponse, error) {
		if err := checkEtag(m.GetEtag()); err != nil {
			return nil, err
		}
		b, err := bindingFromPB(m.GetBinding())
		if err != nil {
			return nil, err
		}
		if err := checkPolicyID(b.ID); err != nil {
			return nil, err
		}
		b, rev, err := s.az.UpdateBinding(ctx, act, b, m.GetEtag())
		if err != nil {
			return nil, err
		}
		return &iamv1.UpdateBindingResponse{Binding: bindingPB(b), ConsistencyToken: authz.Token(rev)}, nil
	})
}

// DeleteBinding removes a binding.
func (s *Policy) DeleteBinding(ctx context.Context, req *connect.Request[iamv1.DeleteBindingRequest]) (*connect.Response[iamv1.DeleteBindingResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.DeleteBindingRequest) (*iamv1.DeleteBindingResponse, error) {
		if err := checkPolicyID(m.GetId()); err != nil {
			return nil, err
		}
		if err := checkEtag(m.GetEtag()); err != nil {
			return nil, err
		}
		rev, err := s.az.DeleteBinding(ctx, act, m.GetId(), m.GetEtag())
		if err != nil {
			return nil, err
		}
		return &iamv1.DeleteBindingResponse{ConsistencyToken: authz.Token(rev)}, nil
	})
}

// --- deny policies ---

// CreateDenyPolicy attaches a deny policy.
func (s *Policy) CreateDenyPolicy(ctx context.Context, req *connect.Request[iamv1.CreateDenyPolicyRequest]) (*connect.Response[iamv1.CreateDenyPolicyResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.CreateDenyPolicyRequest) (*iamv1.CreateDenyPolicyResponse, error) {
		d, err := denyFromPB(m.GetDenyPolicy())
		if err != nil {
			return nil, err
		}
		d, rev, err := s.az.CreateDenyPolicy(ctx, act, d)
		if err != nil {
			return nil, err
		}
		return &iamv1.CreateDenyPolicyResponse{DenyPolicy: denyPB(d), ConsistencyToken: authz.Token(rev)}, nil
	})
}

// GetDenyPolicy returns one deny policy.
func (s *Policy) GetDenyPolicy(ctx context.Context, req *connect.Request[iamv1.GetDenyPolicyRequest]) (*connect.Response[iamv1.GetDenyPolicyResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.GetDenyPolicyRequest) (*iamv1.GetDenyPolicyResponse, error) {
		if err := checkPolicyID(m.GetId()); err != nil {
			return nil, err
		}
		d, err := s.az.GetDenyPolicy(ctx, act, m.GetId())
		if err != nil {
			return nil, err
		}
		return &iamv1.GetDenyPolicyResponse{DenyPolicy: denyPB(d)}, nil
	})
}

// ListDenyPolicies lists the deny policies on a resource.
func (s *Policy) ListDenyPolicies(ctx context.Context, req *connect.Request[iamv1.ListDenyPoliciesRequest]) (*connect.Response[iamv1.ListDenyPoliciesResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.ListDenyPoliciesRequest) (*iamv1.ListDenyPoliciesResponse, error) {
		ds, err := s.az.ListDenyPolicies(ctx, act, m.GetResource())
		if err != nil {
			return nil, err
		}
		return &iamv1.ListDenyPoliciesResponse{DenyPolicies: convert(ds, denyPB)}, nil
	})
}

// UpdateDenyPolicy changes a deny policy.
func (s *Policy) UpdateDenyPolicy(ctx context.Context, req *connect.Request[iamv1.UpdateDenyPolicyRequest]) (*connect.Response[iamv1.UpdateDenyPolicyResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.UpdateDenyPolicyRequest) (*iamv1.UpdateDenyPolicyResponse, error) {
		if err := checkEtag(m.GetEtag()); err != nil {
			return nil, err
		}
		d, err := denyFromPB(m.GetDenyPolicy())
		if err != nil {
			return nil, err
		}
		if err := checkPolicyID(d.ID); err != nil {
			return nil, err
		}
		d, rev, err := s.az.UpdateDenyPolicy(ctx, act, d, m.GetEtag())
		if err != nil {
			return nil, err
		}
		return &iamv1.UpdateDenyPolicyResponse{DenyPolicy: denyPB(d), ConsistencyToken: authz.Token(rev)}, nil
	})
}

// DeleteDenyPolicy removes a deny policy.
func (s *Policy) DeleteDenyPolicy(ctx context.Context, req *connect.Request[iamv1.DeleteDenyPolicyRequest]) (*connect.Response[iamv1.DeleteDenyPolicyResponse], error) {
	return policyCall(s, ctx, req, func(act authz.Actor, m *iamv1.DeleteDenyPolicyRequest) (*iamv1.DeleteDenyPolicyResponse, error) {
		if err := checkPolicyID(m.GetId()); err != nil {
			return nil, err
		}
		if err := checkEtag(m.GetEtag()); err != nil {
			return nil, err
		}
		rev, err := s.az.DeleteDenyPolicy(ctx, act, m.GetId(), m.GetEtag())
		if err != nil {
			return nil, err
		}
		return &iamv1.DeleteDenyPolicyResponse{ConsistencyToken: authz.Token(rev)}, nil
	})
}
