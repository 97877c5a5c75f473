package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/iam/internal/audit"
	"github.com/photoncloud/core/iam/internal/auth"
	"github.com/photoncloud/core/iam/internal/store"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// Identity serves iam.v1.IdentityService. Every call requires an access
// token of an administrator (see auth.Service.IsAdmin).
type Identity struct {
	auth  *auth.Service
	store store.Store
	log   *slog.Logger
	now   func() time.Time
}

var _ iamv1connect.IdentityServiceHandler = (*Identity)(nil)

// NewIdentity returns the IdentityService implementation.
func NewIdentity(svc *auth.Service, st store.Store, log *slog.Logger) *Identity {
	now := svc.Config().Now
	return &Identity{auth: svc, store: st, log: log, now: now}
}

// admin authenticates the caller and requires administrator rights. The
// returned context names the caller for the audit record of the write.
func (s *Identity) admin(ctx context.Context, h http.Header, peer string) (context.Context, error) {
	p, err := authenticate(ctx, s.auth, s.log, h)
	if err != nil {
		return ctx, err
	}
	ok, err := s.auth.IsAdmin(ctx, p)
	if err != nil {
		return ctx, toConnectError(ctx, s.log, err)
	}
	if !ok {
		return ctx, connect.NewError(connect.CodePermissionDenied, errors.New("administrator rights required"))
	}
	kind := p.Kind
	if kind == store.KindServiceAccount {
		kind = "serviceAccount"
	}
	return audit.WithRequest(ctx, audit.Request{Principal: kind + ":" + p.ID, SourceIP: peerIP(peer),
		RequestID: h.Get("X-Request-Id")}), nil
}

// call runs one RPC body after the admin check, mapping its errors.
func call[Req, Resp any](s *Identity, ctx context.Context, req *connect.Request[Req], body func(context.Context, *Req) (*Resp, error)) (*connect.Response[Resp], error) {
	ctx, err := s.admin(ctx, req.Header(), req.Peer().Addr)
	if err != nil {
		return nil, err
	}
	out, err := body(ctx, req.Msg)
	if err != nil {
		return nil, toConnectError(ctx, s.log, err)
	}
	return connect.NewResponse(out), nil
}

func checkIDEtag(field, id, etag string) error {
	if err := checkID(field, id); err != nil {
		return err
	}
	return checkEtag(etag)
}

// --- users ---

// CreateUser creates a user with a password that meets the policy.
func (s *Identity) CreateUser(ctx context.Context, req *connect.Request[iamv1.CreateUserRequest]) (*connect.Response[iamv1.CreateUserResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.CreateUserRequest) (*iamv1.CreateUserResponse, error) {
		if err := checkName("name", m.GetName()); err != nil {
			return nil, err
		}
		if err := checkText("display_name", m.GetDisplayName(), maxDisplayName); err != nil {
			return nil, err
		}
		if err := checkEmail(m.GetEmail()); err != nil {
			return nil, err
		}
		if err := checkPassword(m.GetPassword()); err != nil {
			return nil, err
		}
		hash, err := s.auth.Hasher().Hash(m.GetPassword())
		if err != nil {
			return nil, err
		}
		id, err := newID("usr_")
		if err != nil {
			return nil, err
		}
		now := s.now().UTC()
		u := &store.User{
			ID: id, Name: m.GetName(), DisplayName: m.GetDisplayName(), Email: m.GetEmail(),
			PasswordHash: hash, PasswordChangedAt: now, Meta: store.Meta{CreateTime: now},
		}
		if err := s.store.CreateUser(ctx, u); err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "user created", "user_id", u.ID, "name", u.Name)
		return &iamv1.CreateUserResponse{User: userPB(u)}, nil
	})
}

// GetUser returns one user.
func (s *Identity) GetUser(ctx context.Context, req *connect.Request[iamv1.GetUserRequest]) (*connect.Response[iamv1.GetUserResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.GetUserRequest) (*iamv1.GetUserResponse, error) {
		if err := checkID("id", m.GetId()); err != nil {
			return nil, err
		}
		u, err := s.store.GetUser(ctx, m.GetId())
		if err != nil {
			return nil, err
		}
		return &iamv1.GetUserResponse{User: userPB(u)}, nil
	})
}

// ListUsers lists users by name.
func (s *Identity) ListUsers(ctx context.Context, req *connect.Request[iamv1.ListUsersRequest]) (*connect.Response[iamv1.ListUsersResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.ListUsersRequest) (*iamv1.ListUsersResponse, error) {
		f, err := parseFilter(m.GetFilter(), true, true)
		if err != nil {
			return nil, err
		}
		scope := "users|" + m.GetFilter()
		q, err := pageQuery(m.GetPageSize(), m.GetPageToken(), scope)
		if err != nil {
			return nil, err
		}
		q.Match = func(v any) bool { u := v.(*store.User); return f.match(u.Name, u.Disabled) }
		users, next, err := s.store.ListUsers(ctx, q)
		if err != nil {
			return nil, err
		}
		return &iamv1.ListUsersResponse{Users: convert(users, userPB), NextPageToken: nextToken(next, scope)}, nil
	})
}

// UpdateUser changes display name and email.
func (s *Identity) UpdateUser(ctx context.Context, req *connect.Request[iamv1.UpdateUserRequest]) (*connect.Response[iamv1.UpdateUserResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.UpdateUserRequest) (*iamv1.UpdateUserResponse, error) {
		if err := checkIDEtag("id", m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		if m.DisplayName != nil {
			if err := checkText("display_name", m.GetDisplayName(), maxDisplayName); err != nil {
				return nil, err
			}
		}
		if m.Email != nil {
			if err := checkEmail(m.GetEmail()); err != nil {
				return nil, err
			}
		}
		u, err := s.store.UpdateUser(ctx, m.GetId(), m.GetEtag(), func(u *store.User) error {
			if m.DisplayName != nil {
				u.DisplayName = m.GetDisplayName()
			}
			if m.Email != nil {
				u.Email = m.GetEmail()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return &iamv1.UpdateUserResponse{User: userPB(u)}, nil
	})
}

// DeleteUser deletes a user.
func (s *Identity) DeleteUser(ctx context.Context, req *connect.Request[iamv1.DeleteUserRequest]) (*connect.Response[iamv1.DeleteUserResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.DeleteUserRequest) (*iamv1.DeleteUserResponse, error) {
		if err := checkIDEtag("id", m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		if err := s.store.DeleteUser(ctx, m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "user deleted", "user_id", m.GetId())
		return &iamv1.DeleteUserResponse{}, nil
	})
}

func (s *Identity) setUserDisabled(ctx context.Context, id, etag string, disabled bool) (*store.User, error) {
	if err := checkIDEtag("id", id, etag); err != nil {
		return nil, err
	}
	u, err := s.store.UpdateUser(ctx, id, etag, func(u *store.User) error { u.Disabled = disabled; return nil })
	if err == nil {
		s.log.InfoContext(ctx, "user disabled state changed", "user_id", id, "disabled", disabled)
	}
	return u, err
}

// DisableUser disables a user and revokes its sessions.
func (s *Identity) DisableUser(ctx context.Context, req *connect.Request[iamv1.DisableUserRequest]) (*connect.Response[iamv1.DisableUserResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.DisableUserRequest) (*iamv1.DisableUserResponse, error) {
		u, err := s.setUserDisabled(ctx, m.GetId(), m.GetEtag(), true)
		if err != nil {
			return nil, err
		}
		return &iamv1.DisableUserResponse{User: userPB(u)}, nil
	})
}

// EnableUser enables a user.
func (s *Identity) EnableUser(ctx context.Context, req *connect.Request[iamv1.EnableUserRequest]) (*connect.Response[iamv1.EnableUserResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.EnableUserRequest) (*iamv1.EnableUserResponse, error) {
		u, err := s.setUserDisabled(ctx, m.GetId(), m.GetEtag(), false)
		if err != nil {
			return nil, err
		}
		return &iamv1.EnableUserResponse{User: userPB(u)}, nil
	})
}

// SetUserPassword replaces a password; the store revokes the user's
// sessions in the same transaction.
func (s *Identity) SetUserPassword(ctx context.Context, req *connect.Request[iamv1.SetUserPasswordRequest]) (*connect.Response[iamv1.SetUserPasswordResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.SetUserPasswordRequest) (*iamv1.SetUserPasswordResponse, error) {
		if err := checkIDEtag("id", m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		if err := checkPassword(m.GetPassword()); err != nil {
			return nil, err
		}
		hash, err := s.auth.Hasher().Hash(m.GetPassword())
		if err != nil {
			return nil, err
		}
		now := s.now().UTC()
		u, err := s.store.UpdateUser(ctx, m.GetId(), m.GetEtag(), func(u *store.User) error {
			u.PasswordHash, u.PasswordChangedAt = hash, now
			return nil
		})
		if err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "user password changed; sessions revoked", "user_id", u.ID)
		return &iamv1.SetUserPasswordResponse{User: userPB(u)}, nil
	})
}

// ResetUserMfa switches a user's TOTP off and revokes its sessions.
func (s *Identity) ResetUserMfa(ctx context.Context, req *connect.Request[iamv1.ResetUserMfaRequest]) (*connect.Response[iamv1.ResetUserMfaResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.ResetUserMfaRequest) (*iamv1.ResetUserMfaResponse, error) {
		if err := checkIDEtag("id", m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		now := s.now().UTC()
		u, err := s.store.UpdateUser(ctx, m.GetId(), m.GetEtag(), func(u *store.User) error {
			auth.ClearMFA(u)
			// Counts as a credential change: whoever holds the sessions may
			// be the one who lost (or stole) the authenticator.
			u.PasswordChangedAt = now
			return nil
		})
		if err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "user mfa reset by administrator; sessions revoked", "user_id", u.ID)
		return &iamv1.ResetUserMfaResponse{User: userPB(u)}, nil
	})
}

// --- groups ---

// CreateGroup creates a group.
func (s *Identity) CreateGroup(ctx context.Context, req *connect.Request[iamv1.CreateGroupRequest]) (*connect.Response[iamv1.CreateGroupResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.CreateGroupRequest) (*iamv1.CreateGroupResponse, error) {
		if err := checkName("name", m.GetName()); err != nil {
			return nil, err
		}
		if err := checkText("display_name", m.GetDisplayName(), maxDisplayName); err != nil {
			return nil, err
		}
		if err := checkText("description", m.GetDescription(), maxDescription); err != nil {
			return nil, err
		}
		id, err := newID("grp_")
		if err != nil {
			return nil, err
		}
		g := &store.Group{ID: id, Name: m.GetName(), DisplayName: m.GetDisplayName(), Description: m.GetDescription(),
			Meta: store.Meta{CreateTime: s.now().UTC()}}
		if err := s.store.CreateGroup(ctx, g); err != nil {
			return nil, err
		}
		return &iamv1.CreateGroupResponse{Group: groupPB(g)}, nil
	})
}

// GetGroup returns a group.
func (s *Identity) GetGroup(ctx context.Context, req *connect.Request[iamv1.GetGroupRequest]) (*connect.Response[iamv1.GetGroupResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.GetGroupRequest) (*iamv1.GetGroupResponse, error) {
		if err := checkID("id", m.GetId()); err != nil {
			return nil, err
		}
		g, err := s.store.GetGroup(ctx, m.GetId())
		if err != nil {
			return nil, err
		}
		return &iamv1.GetGroupResponse{Group: groupPB(g)}, nil
	})
}

// ListGroups lists groups by name.
func (s *Identity) ListGroups(ctx context.Context, req *connect.Request[iamv1.ListGroupsRequest]) (*connect.Response[iamv1.ListGroupsResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.ListGroupsRequest) (*iamv1.ListGroupsResponse, error) {
		f, err := parseFilter(m.GetFilter(), true, false)
		if err != nil {
			return nil, err
		}
		scope := "groups|" + m.GetFilter()
		q, err := pageQuery(m.GetPageSize(), m.GetPageToken(), scope)
		if err != nil {
			return nil, err
		}
		q.Match = func(v any) bool { return f.match(v.(*store.Group).Name, false) }
		groups, next, err := s.store.ListGroups(ctx, q)
		if err != nil {
			return nil, err
		}
		return &iamv1.ListGroupsResponse{Groups: convert(groups, groupPB), NextPageToken: nextToken(next, scope)}, nil
	})
}

// UpdateGroup changes display name and description.
func (s *Identity) UpdateGroup(ctx context.Context, req *connect.Request[iamv1.UpdateGroupRequest]) (*connect.Response[iamv1.UpdateGroupResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.UpdateGroupRequest) (*iamv1.UpdateGroupResponse, error) {
		if err := checkIDEtag("id", m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		if err := checkText("display_name", m.GetDisplayName(), maxDisplayName); err != nil {
			return nil, err
		}
		if err := checkText("description", m.GetDescription(), maxDescription); err != nil {
			return nil, err
		}
		g, err := s.store.UpdateGroup(ctx, m.GetId(), m.GetEtag(), func(g *store.Group) error {
			if m.DisplayName != nil {
				g.DisplayName = m.GetDisplayName()
			}
			if m.Description != nil {
				g.Description = m.GetDescription()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return &iamv1.UpdateGroupResponse{Group: groupPB(g)}, nil
	})
}

// DeleteGroup deletes a group.
func (s *Identity) DeleteGroup(ctx context.Context, req *connect.Request[iamv1.DeleteGroupRequest]) (*connect.Response[iamv1.DeleteGroupResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.DeleteGroupRequest) (*iamv1.DeleteGroupResponse, error) {
		if err := checkIDEtag("id", m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		return &iamv1.DeleteGroupResponse{}, s.store.DeleteGroup(ctx, m.GetId(), m.GetEtag())
	})
}

// AddGroupMember adds a user to a group.
func (s *Identity) AddGroupMember(ctx context.Context, req *connect.Request[iamv1.AddGroupMemberRequest]) (*connect.Response[iamv1.AddGroupMemberResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.AddGroupMemberRequest) (*iamv1.AddGroupMemberResponse, error) {
		if err := checkIDEtag("group_id", m.GetGroupId(), m.GetEtag()); err != nil {
			return nil, err
		}
		if err := checkID("user_id", m.GetUserId()); err != nil {
			return nil, err
		}
		g, err := s.store.AddGroupMember(ctx, m.GetGroupId(), m.GetEtag(), m.GetUserId())
		if err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "group member added", "group_id", g.ID, "user_id", m.GetUserId())
		return &iamv1.AddGroupMemberResponse{Group: groupPB(g)}, nil
	})
}

// RemoveGroupMember removes a user from a group.
func (s *Identity) RemoveGroupMember(ctx context.Context, req *connect.Request[iamv1.RemoveGroupMemberRequest]) (*connect.Response[iamv1.RemoveGroupMemberResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.RemoveGroupMemberRequest) (*iamv1.RemoveGroupMemberResponse, error) {
		if err := checkIDEtag("group_id", m.GetGroupId(), m.GetEtag()); err != nil {
			return nil, err
		}
		if err := checkID("user_id", m.GetUserId()); err != nil {
			return nil, err
		}
		g, err := s.store.RemoveGroupMember(ctx, m.GetGroupId(), m.GetEtag(), m.GetUserId())
		if err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "group member removed", "group_id", g.ID, "user_id", m.GetUserId())
		return &iamv1.RemoveGroupMemberResponse{Group: groupPB(g)}, nil
	})
}

// ListGroupMembers lists a group's users.
func (s *Identity) ListGroupMembers(ctx context.Context, req *connect.Request[iamv1.ListGroupMembersRequest]) (*connect.Response[iamv1.ListGroupMembersResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.ListGroupMembersRequest) (*iamv1.ListGroupMembersResponse, error) {
		if err := checkID("group_id", m.GetGroupId()); err != nil {
			return nil, err
		}
		scope := "members|" + m.GetGroupId()
		q, err := pageQuery(m.GetPageSize(), m.GetPageToken(), scope)
		if err != nil {
			return nil, err
		}
		users, next, err := s.store.ListGroupMembers(ctx, m.GetGroupId(), q)
		if err != nil {
			return nil, err
		}
		return &iamv1.ListGroupMembersResponse{Users: convert(users, userPB), NextPageToken: nextToken(next, scope)}, nil
	})
}

// --- service accounts ---

// CreateServiceAccount creates a service account.
func (s *Identity) CreateServiceAccount(ctx context.Context, req *connect.Request[iamv1.CreateServiceAccountRequest]) (*connect.Response[iamv1.CreateServiceAccountResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.CreateServiceAccountRequest) (*iamv1.CreateServiceAccountResponse, error) {
		if err := checkName("name", m.GetName()); err != nil {
			return nil, err
		}
		if err := checkText("display_name", m.GetDisplayName(), maxDisplayName); err != nil {
			return nil, err
		}
		if err := checkText("description", m.GetDescription(), maxDescription); err != nil {
			return nil, err
		}
		id, err := newID("sa_")
		if err != nil {
			return nil, err
		}
		sa := &store.ServiceAccount{ID: id, Name: m.GetName(), DisplayName: m.GetDisplayName(),
			Description: m.GetDescription(), Meta: store.Meta{CreateTime: s.now().UTC()}}
		if err := s.store.CreateServiceAccount(ctx, sa); err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "service account created", "service_account_id", sa.ID, "name", sa.Name)
		return &iamv1.CreateServiceAccountResponse{ServiceAccount: serviceAccountPB(sa)}, nil
	})
}

// GetServiceAccount returns a service account.
func (s *Identity) GetServiceAccount(ctx context.Context, req *connect.Request[iamv1.GetServiceAccountRequest]) (*connect.Response[iamv1.GetServiceAccountResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.GetServiceAccountRequest) (*iamv1.GetServiceAccountResponse, error) {
		if err := checkID("id", m.GetId()); err != nil {
			return nil, err
		}
		sa, err := s.store.GetServiceAccount(ctx, m.GetId())
		if err != nil {
			return nil, err
		}
		return &iamv1.GetServiceAccountResponse{ServiceAccount: serviceAccountPB(sa)}, nil
	})
}

// ListServiceAccounts lists service accounts by name.
func (s *Identity) ListServiceAccounts(ctx context.Context, req *connect.Request[iamv1.ListServiceAccountsRequest]) (*connect.Response[iamv1.ListServiceAccountsResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.ListServiceAccountsRequest) (*iamv1.ListServiceAccountsResponse, error) {
		f, err := parseFilter(m.GetFilter(), true, true)
		if err != nil {
			return nil, err
		}
		scope := "service_accounts|" + m.GetFilter()
		q, err := pageQuery(m.GetPageSize(), m.GetPageToken(), scope)
		if err != nil {
			return nil, err
		}
		q.Match = func(v any) bool { sa := v.(*store.ServiceAccount); return f.match(sa.Name, sa.Disabled) }
		sas, next, err := s.store.ListServiceAccounts(ctx, q)
		if err != nil {
			return nil, err
		}
		return &iamv1.ListServiceAccountsResponse{ServiceAccounts: convert(sas, serviceAccountPB), NextPageToken: nextToken(next, scope)}, nil
	})
}

// UpdateServiceAccount changes display name and description.
func (s *Identity) UpdateServiceAccount(ctx context.Context, req *connect.Request[iamv1.UpdateServiceAccountRequest]) (*connect.Response[iamv1.UpdateServiceAccountResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.UpdateServiceAccountRequest) (*iamv1.UpdateServiceAccountResponse, error) {
		if err := checkIDEtag("id", m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		if err := checkText("display_name", m.GetDisplayName(), maxDisplayName); err != nil {
			return nil, err
		}
		if err := checkText("description", m.GetDescription(), maxDescription); err != nil {
			return nil, err
		}
		sa, err := s.store.UpdateServiceAccount(ctx, m.GetId(), m.GetEtag(), func(sa *store.ServiceAccount) error {
			if m.DisplayName != nil {
				sa.DisplayName = m.GetDisplayName()
			}
			if m.Description != nil {
				sa.Description = m.GetDescription()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return &iamv1.UpdateServiceAccountResponse{ServiceAccount: serviceAccountPB(sa)}, nil
	})
}

// DeleteServiceAccount deletes a service account and its keys.
func (s *Identity) DeleteServiceAccount(ctx context.Context, req *connect.Request[iamv1.DeleteServiceAccountRequest]) (*connect.Response[iamv1.DeleteServiceAccountResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.DeleteServiceAccountRequest) (*iamv1.DeleteServiceAccountResponse, error) {
		if err := checkIDEtag("id", m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		if err := s.store.DeleteServiceAccount(ctx, m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "service account deleted", "service_account_id", m.GetId())
		return &iamv1.DeleteServiceAccountResponse{}, nil
	})
}

func (s *Identity) setSADisabled(ctx context.Context, id, etag string, disabled bool) (*store.ServiceAccount, error) {
	if err := checkIDEtag("id", id, etag); err != nil {
		return nil, err
	}
	sa, err := s.store.UpdateServiceAccount(ctx, id, etag, func(sa *store.ServiceAccount) error { sa.Disabled = disabled; return nil })
	if err == nil {
		s.log.InfoContext(ctx, "service account disabled state changed", "service_account_id", id, "disabled", disabled)
	}
	return sa, err
}

// DisableServiceAccount disables a service account.
func (s *Identity) DisableServiceAccount(ctx context.Context, req *connect.Request[iamv1.DisableServiceAccountRequest]) (*connect.Response[iamv1.DisableServiceAccountResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.DisableServiceAccountRequest) (*iamv1.DisableServiceAccountResponse, error) {
		sa, err := s.setSADisabled(ctx, m.GetId(), m.GetEtag(), true)
		if err != nil {
			return nil, err
		}
		return &iamv1.DisableServiceAccountResponse{ServiceAccount: serviceAccountPB(sa)}, nil
	})
}

// EnableServiceAccount enables a service account.
func (s *Identity) EnableServiceAccount(ctx context.Context, req *connect.Request[iamv1.EnableServiceAccountRequest]) (*connect.Response[iamv1.EnableServiceAccountResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.EnableServiceAccountRequest) (*iamv1.EnableServiceAccountResponse, error) {
		sa, err := s.setSADisabled(ctx, m.GetId(), m.GetEtag(), false)
		if err != nil {
			return nil, err
		}
		return &iamv1.EnableServiceAccountResponse{ServiceAccount: serviceAccountPB(sa)}, nil
	})
}

// --- service account keys ---

// CreateServiceAccountKey creates a key and returns its secret once.
func (s *Identity) CreateServiceAccountKey(ctx context.Context, req *connect.Request[iamv1.CreateServiceAccountKeyRequest]) (*connect.Response[iamv1.CreateServiceAccountKeyResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.CreateServiceAccountKeyRequest) (*iamv1.CreateServiceAccountKeyResponse, error) {
		if err := checkID("service_account_id", m.GetServiceAccountId()); err != nil {
			return nil, err
		}
		if err := checkText("display_name", m.GetDisplayName(), maxDisplayName); err != nil {
			return nil, err
		}
		now := s.now().UTC()
		var expire time.Time
		if m.ExpireTime != nil {
			if err := m.ExpireTime.CheckValid(); err != nil {
				return nil, invalid("expire_time is not a valid timestamp")
			}
			expire = m.ExpireTime.AsTime()
			if !expire.After(now) {
				return nil, invalid("expire_time must be in the future")
			}
		}
		id, err := newID("sak_")
		if err != nil {
			return nil, err
		}
		secret, hash, err := auth.NewClientSecret(id)
		if err != nil {
			return nil, err
		}
		k := &store.ServiceAccountKey{ID: id, ServiceAccountID: m.GetServiceAccountId(), DisplayName: m.GetDisplayName(),
			SecretHash: hash, ExpireTime: expire, Meta: store.Meta{CreateTime: now}}
		if err := s.store.CreateServiceAccountKey(ctx, k); err != nil {
			if errors.Is(err, store.ErrInvalid) {
				return nil, connect.NewError(connect.CodeNotFound, errors.New("service account not found"))
			}
			return nil, err
		}
		s.log.InfoContext(ctx, "service account key created", "service_account_id", k.ServiceAccountID, "key_id", k.ID)
		return &iamv1.CreateServiceAccountKeyResponse{Key: keyPB(k), ClientId: k.ServiceAccountID, ClientSecret: secret}, nil
	})
}

// GetServiceAccountKey returns a key's metadata.
func (s *Identity) GetServiceAccountKey(ctx context.Context, req *connect.Request[iamv1.GetServiceAccountKeyRequest]) (*connect.Response[iamv1.GetServiceAccountKeyResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.GetServiceAccountKeyRequest) (*iamv1.GetServiceAccountKeyResponse, error) {
		if err := checkID("id", m.GetId()); err != nil {
			return nil, err
		}
		k, err := s.store.GetServiceAccountKey(ctx, m.GetId())
		if err != nil {
			return nil, err
		}
		return &iamv1.GetServiceAccountKeyResponse{Key: keyPB(k)}, nil
	})
}

// ListServiceAccountKeys lists a service account's keys.
func (s *Identity) ListServiceAccountKeys(ctx context.Context, req *connect.Request[iamv1.ListServiceAccountKeysRequest]) (*connect.Response[iamv1.ListServiceAccountKeysResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.ListServiceAccountKeysRequest) (*iamv1.ListServiceAccountKeysResponse, error) {
		if err := checkID("service_account_id", m.GetServiceAccountId()); err != nil {
			return nil, err
		}
		f, err := parseFilter(m.GetFilter(), false, true)
		if err != nil {
			return nil, err
		}
		scope := "keys|" + m.GetServiceAccountId() + "|" + m.GetFilter()
		q, err := pageQuery(m.GetPageSize(), m.GetPageToken(), scope)
		if err != nil {
			return nil, err
		}
		q.Match = func(v any) bool { return f.match("", v.(*store.ServiceAccountKey).Disabled) }
		keys, next, err := s.store.ListServiceAccountKeys(ctx, m.GetServiceAccountId(), q)
		if err != nil {
			return nil, err
		}
		return &iamv1.ListServiceAccountKeysResponse{Keys: convert(keys, keyPB), NextPageToken: nextToken(next, scope)}, nil
	})
}

// UpdateServiceAccountKey changes a key's display name.
func (s *Identity) UpdateServiceAccountKey(ctx context.Context, req *connect.Request[iamv1.UpdateServiceAccountKeyRequest]) (*connect.Response[iamv1.UpdateServiceAccountKeyResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.UpdateServiceAccountKeyRequest) (*iamv1.UpdateServiceAccountKeyResponse, error) {
		if err := checkIDEtag("id", m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		if err := checkText("display_name", m.GetDisplayName(), maxDisplayName); err != nil {
			return nil, err
		}
		k, err := s.store.UpdateServiceAccountKey(ctx, m.GetId(), m.GetEtag(), func(k *store.ServiceAccountKey) error {
			if m.DisplayName != nil {
				k.DisplayName = m.GetDisplayName()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return &iamv1.UpdateServiceAccountKeyResponse{Key: keyPB(k)}, nil
	})
}

// DeleteServiceAccountKey deletes a key.
func (s *Identity) DeleteServiceAccountKey(ctx context.Context, req *connect.Request[iamv1.DeleteServiceAccountKeyRequest]) (*connect.Response[iamv1.DeleteServiceAccountKeyResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.DeleteServiceAccountKeyRequest) (*iamv1.DeleteServiceAccountKeyResponse, error) {
		if err := checkIDEtag("id", m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		if err := s.store.DeleteServiceAccountKey(ctx, m.GetId(), m.GetEtag()); err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "service account key deleted", "key_id", m.GetId())
		return &iamv1.DeleteServiceAccountKeyResponse{}, nil
	})
}

func (s *Identity) setKeyDisabled(ctx context.Context, id, etag string, disabled bool) (*store.ServiceAccountKey, error) {
	if err := checkIDEtag("id", id, etag); err != nil {
		return nil, err
	}
	k, err := s.store.UpdateServiceAccountKey(ctx, id, etag, func(k *store.ServiceAccountKey) error { k.Disabled = disabled; return nil })
	if err == nil {
		s.log.InfoContext(ctx, "service account key disabled state changed", "key_id", id, "disabled", disabled)
	}
	return k, err
}

// DisableServiceAccountKey disables a key.
func (s *Identity) DisableServiceAccountKey(ctx context.Context, req *connect.Request[iamv1.DisableServiceAccountKeyRequest]) (*connect.Response[iamv1.DisableServiceAccountKeyResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.DisableServiceAccountKeyRequest) (*iamv1.DisableServiceAccountKeyResponse, error) {
		k, err := s.setKeyDisabled(ctx, m.GetId(), m.GetEtag(), true)
		if err != nil {
			return nil, err
		}
		return &iamv1.DisableServiceAccountKeyResponse{Key: keyPB(k)}, nil
	})
}

// EnableServiceAccountKey enables a key.
func (s *Identity) EnableServiceAccountKey(ctx context.Context, req *connect.Request[iamv1.EnableServiceAccountKeyRequest]) (*connect.Response[iamv1.EnableServiceAccountKeyResponse], error) {
	return call(s, ctx, req, func(ctx context.Context, m *iamv1.EnableServiceAccountKeyRequest) (*iamv1.EnableServiceAccountKeyResponse, error) {
		k, err := s.setKeyDisabled(ctx, m.GetId(), m.GetEtag(), false)
		if err != nil {
			return nil, err
		}
		return &iamv1.EnableServiceAccountKeyResponse{Key: keyPB(k)}, nil
	})
}
