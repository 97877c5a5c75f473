package ctl

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	iamv1 "github.com/photoncloud/core/proto/iam/v1"
)

func (a *app) loginCmd() *cobra.Command {
	var username, totpCode, recovery string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in and cache the session (0600) in the config directory",
		Long: "Log in and cache the session (mode 0600) in the config directory.\n" +
			"The password is prompted for on a terminal, else read from the first line of standard input.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if username == "" {
				return fmt.Errorf("--username is required")
			}
			pw, err := a.readSecret("Password: ")
			if err != nil {
				return err
			}
			resp, err := a.authClient().Login(cmd.Context(), connect.NewRequest(&iamv1.LoginRequest{
				Username: username, Password: pw, TotpCode: totpCode, RecoveryCode: recovery,
			}))
			if err != nil {
				return fmt.Errorf("login: %w", err)
			}
			t := resp.Msg.GetTokens()
			s := &session{Server: a.server, AccessToken: t.GetAccessToken(), RefreshToken: t.GetRefreshToken(),
				Expiry: time.Now().Add(time.Duration(t.GetExpiresIn()) * time.Second)}
			if err := a.saveSession(s); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "logged in to %s as %s\n", a.server, username)
			return nil
		},
	}
	cmd.Flags().StringVarP(&username, "username", "u", "", "user name")
	cmd.Flags().StringVar(&totpCode, "totp-code", "", "current TOTP code, if MFA is enabled")
	cmd.Flags().StringVar(&recovery, "recovery-code", "", "a recovery code instead of a TOTP code")
	return cmd
}

func (a *app) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the cached session and forget it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.loadSession()
			if err != nil {
				return err
			}
			if _, err := a.authClient().Revoke(cmd.Context(), connect.NewRequest(&iamv1.RevokeRequest{
				Token: s.RefreshToken, TokenTypeHint: "refresh_token",
			})); err != nil {
				return fmt.Errorf("revoking session: %w", err)
			}
			return removeFile(a.sessionPath())
		},
	}
}

func (a *app) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the logged-in principal",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := authed(cmd.Context(), a, &iamv1.WhoAmIRequest{})
			if err != nil {
				return err
			}
			resp, err := a.authClient().WhoAmI(cmd.Context(), req)
			if err != nil {
				return err
			}
			m := resp.Msg
			return a.print(m, []string{"KIND", "ID", "NAME", "DISPLAY NAME", "TOKEN EXPIRES"},
				[][]string{{m.GetPrincipalKind(), m.GetSubject(), m.GetName(), m.GetDisplayName(), ts(m.GetTokenExpireTime())}})
		},
	}
}

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Introspect or revoke tokens"}
	cmd.AddCommand(&cobra.Command{
		Use:   "introspect TOKEN",
		Short: "Show whether a token is active and what it says",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := authed(cmd.Context(), a, &iamv1.IntrospectRequest{Token: args[0]})
			if err != nil {
				return err
			}
			resp, err := a.authClient().Introspect(cmd.Context(), req)
			if err != nil {
				return err
			}
			m := resp.Msg
			return a.print(m, []string{"ACTIVE", "TYPE", "SUBJECT", "USERNAME", "CLIENT", "SCOPE", "EXPIRES"},
				[][]string{{yesNo(m.GetActive()), m.GetTokenType(), m.GetSubject(), m.GetUsername(), m.GetClientId(), m.GetScope(), ts(m.GetExpireTime())}})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "revoke TOKEN",
		Short: "Revoke an access or refresh token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.authClient().Revoke(cmd.Context(), connect.NewRequest(&iamv1.RevokeRequest{Token: args[0]}))
			return err
		},
	})
	return cmd
}

// page fetches all pages when all is set, otherwise one page.
func page[T any](all bool, token *string, fetch func() ([]T, string, error)) ([]T, error) {
	var out []T
	for {
		items, next, err := fetch()
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if !all || next == "" {
			*token = next
			return out, nil
		}
		*token = next
	}
}

type listFlags struct {
	filter    string
	pageSize  int32
	pageToken string
	all       bool
}

func (l *listFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&l.filter, "filter", "", "filter, e.g. 'name=dev-* disabled=false'")
	cmd.Flags().Int32Var(&l.pageSize, "page-size", 0, "items per page (server default when 0)")
	cmd.Flags().StringVar(&l.pageToken, "page-token", "", "continue a listing")
	cmd.Flags().BoolVar(&l.all, "all", false, "fetch every page")
}

func userRows(users []*iamv1.User) [][]string {
	rows := make([][]string, 0, len(users))
	for _, u := range users {
		rows = append(rows, []string{u.GetId(), u.GetName(), u.GetDisplayName(), u.GetEmail(),
			yesNo(u.GetDisabled()), yesNo(u.GetMfaEnabled()), u.GetEtag()})
	}
	return rows
}

var userHeader = []string{"ID", "NAME", "DISPLAY NAME", "EMAIL", "DISABLED", "MFA", "ETAG"}

// rpc runs one authenticated identity call and prints its result.
func rpc[Req, Resp any](cmd *cobra.Command, a *app, msg *Req,
	call func(context.Context, *connect.Request[Req]) (*connect.Response[Resp], error),
	show func(*Resp) error,
) error {
	req, err := authed(cmd.Context(), a, msg)
	if err != nil {
		return err
	}
	resp, err := call(cmd.Context(), req)
	if err != nil {
		return err
	}
	return show(resp.Msg)
}

func (a *app) userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	showUser := func(m interface{ GetUser() *iamv1.User }) error {
		return a.print(m.GetUser(), userHeader, userRows([]*iamv1.User{m.GetUser()}))
	}
	var display, email, etag string

	create := &cobra.Command{
		Use: "create NAME", Short: "Create a user (password read like login's)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := a.readSecret("New password: ")
			if err != nil {
				return err
			}
			return rpc(cmd, a, &iamv1.CreateUserRequest{Name: args[0], DisplayName: display, Email: email, Password: pw},
				a.identityClient().CreateUser, func(m *iamv1.CreateUserResponse) error { return showUser(m) })
		},
	}
	create.Flags().StringVar(&display, "display-name", "", "display name")
	create.Flags().StringVar(&email, "email", "", "email address")

	get := &cobra.Command{
		Use: "get ID", Short: "Show a user", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rpc(cmd, a, &iamv1.GetUserRequest{Id: args[0]}, a.identityClient().GetUser,
				func(m *iamv1.GetUserResponse) error { return showUser(m) })
		},
	}

	var lf listFlags
	list := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok := lf.pageToken
			users, err := page(lf.all, &tok, func() ([]*iamv1.User, string, error) {
				req, err := authed(cmd.Context(), a, &iamv1.ListUsersRequest{PageSize: lf.pageSize, PageToken: tok, Filter: lf.filter})
				if err != nil {
					return nil, "", err
				}
				resp, err := a.identityClient().ListUsers(cmd.Context(), req)
				if err != nil {
					return nil, "", err
				}
				return resp.Msg.GetUsers(), resp.Msg.GetNextPageToken(), nil
			})
			if err != nil {
				return err
			}
			return a.printPage(&iamv1.ListUsersResponse{Users: users, NextPageToken: tok}, userHeader, userRows(users), tok)
		},
	}
	lf.register(list)

	update := &cobra.Command{
		Use: "update ID", Short: "Change display name or email", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &iamv1.UpdateUserRequest{Id: args[0], Etag: etag}
			if cmd.Flags().Changed("display-name") {
				req.DisplayName = &display
			}
			if cmd.Flags().Changed("email") {
				req.Email = &email
			}
			return rpc(cmd, a, req, a.identityClient().UpdateUser, func(m *iamv1.UpdateUserResponse) error { return showUser(m) })
		},
	}
	update.Flags().StringVar(&display, "display-name", "", "new display name")
	update.Flags().StringVar(&email, "email", "", "new email address")

	simple := func(use, short string, run func(cmd *cobra.Command, id string) error) *cobra.Command {
		c := &cobra.Command{Use: use + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error { return run(cmd, args[0]) }}
		c.Flags().StringVar(&etag, "etag", "", "only if the user still has this etag")
		return c
	}
	update.Flags().StringVar(&etag, "etag", "", "only if the user still has this etag")
	cmd.AddCommand(create, get, list, update,
		simple("delete", "Delete a user", func(cmd *cobra.Command, id string) error {
			return rpc(cmd, a, &iamv1.DeleteUserRequest{Id: id, Etag: etag}, a.identityClient().DeleteUser,
				func(*iamv1.DeleteUserResponse) error { return nil })
		}),
		simple("disable", "Disable a user and end its sessions", func(cmd *cobra.Command, id string) error {
			return rpc(cmd, a, &iamv1.DisableUserRequest{Id: id, Etag: etag}, a.identityClient().DisableUser,
				func(m *iamv1.DisableUserResponse) error { return showUser(m) })
		}),
		simple("enable", "Enable a user", func(cmd *cobra.Command, id string) error {
			return rpc(cmd, a, &iamv1.EnableUserRequest{Id: id, Etag: etag}, a.identityClient().EnableUser,
				func(m *iamv1.EnableUserResponse) error { return showUser(m) })
		}),
		simple("set-password", "Set a user's password (read like login's)", func(cmd *cobra.Command, id string) error {
			pw, err := a.readSecret("New password: ")
			if err != nil {
				return err
			}
			return rpc(cmd, a, &iamv1.SetUserPasswordRequest{Id: id, Etag: etag, Password: pw}, a.identityClient().SetUserPassword,
				func(m *iamv1.SetUserPasswordResponse) error { return showUser(m) })
		}),
		simple("reset-mfa", "Switch a user's TOTP off", func(cmd *cobra.Command, id string) error {
			return rpc(cmd, a, &iamv1.ResetUserMfaRequest{Id: id, Etag: etag}, a.identityClient().ResetUserMfa,
				func(m *iamv1.ResetUserMfaResponse) error { return showUser(m) })
		}),
	)
	return cmd
}

// printPage prints a listing and, in table mode, how to continue it.
func (a *app) printPage(msg proto.Message, header []string, rows [][]string, next string) error {
	if err := a.print(msg, header, rows); err != nil {
		return err
	}
	if a.output == "table" && next != "" {
		fmt.Fprintf(a.stderr, "more results: --page-token %s\n", next)
	}
	return nil
}

func groupRows(gs []*iamv1.Group) [][]string {
	rows := make([][]string, 0, len(gs))
	for _, g := range gs {
		rows = append(rows, []string{g.GetId(), g.GetName(), g.GetDisplayName(), strconv.Itoa(int(g.GetMemberCount())), g.GetEtag()})
	}
	return rows
}

var groupHeader = []string{"ID", "NAME", "DISPLAY NAME", "MEMBERS", "ETAG"}

func (a *app) groupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage groups and membership"}
	showGroup := func(m interface{ GetGroup() *iamv1.Group }) error {
		return a.print(m.GetGroup(), groupHeader, groupRows([]*iamv1.Group{m.GetGroup()}))
	}
	var display, description, etag string
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rpc(cmd, a, &iamv1.CreateGroupRequest{Name: args[0], DisplayName: display, Description: description},
				a.identityClient().CreateGroup, func(m *iamv1.CreateGroupResponse) error { return showGroup(m) })
		},
	}
	create.Flags().StringVar(&display, "display-name", "", "display name")
	create.Flags().StringVar(&description, "description", "", "description")
	get := &cobra.Command{
		Use: "get ID", Short: "Show a group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rpc(cmd, a, &iamv1.GetGroupRequest{Id: args[0]}, a.identityClient().GetGroup,
				func(m *iamv1.GetGroupResponse) error { return showGroup(m) })
		},
	}
	var lf listFlags
	list := &cobra.Command{
		Use: "list", Short: "List groups", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok := lf.pageToken
			gs, err := page(lf.all, &tok, func() ([]*iamv1.Group, string, error) {
				req, err := authed(cmd.Context(), a, &iamv1.ListGroupsRequest{PageSize: lf.pageSize, PageToken: tok, Filter: lf.filter})
				if err != nil {
					return nil, "", err
				}
				resp, err := a.identityClient().ListGroups(cmd.Context(), req)
				if err != nil {
					return nil, "", err
				}
				return resp.Msg.GetGroups(), resp.Msg.GetNextPageToken(), nil
			})
			if err != nil {
				return err
			}
			return a.printPage(&iamv1.ListGroupsResponse{Groups: gs, NextPageToken: tok}, groupHeader, groupRows(gs), tok)
		},
	}
	lf.register(list)
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete a group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rpc(cmd, a, &iamv1.DeleteGroupRequest{Id: args[0], Etag: etag}, a.identityClient().DeleteGroup,
				func(*iamv1.DeleteGroupResponse) error { return nil })
		},
	}
	add := &cobra.Command{
		Use: "add-member GROUP_ID USER_ID", Short: "Add a user to a group", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rpc(cmd, a, &iamv1.AddGroupMemberRequest{GroupId: args[0], UserId: args[1], Etag: etag},
				a.identityClient().AddGroupMember, func(m *iamv1.AddGroupMemberResponse) error { return showGroup(m) })
		},
	}
	remove := &cobra.Command{
		Use: "remove-member GROUP_ID USER_ID", Short: "Remove a user from a group", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rpc(cmd, a, &iamv1.RemoveGroupMemberRequest{GroupId: args[0], UserId: args[1], Etag: etag},
				a.identityClient().RemoveGroupMember, func(m *iamv1.RemoveGroupMemberResponse) error { return showGroup(m) })
		},
	}
	for _, c := range []*cobra.Command{del, add, remove} {
		c.Flags().StringVar(&etag, "etag", "", "only if the group still has this etag")
	}
	var mf listFlags
	members := &cobra.Command{
		Use: "members GROUP_ID", Short: "List a group's users", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok := mf.pageToken
			users, err := page(mf.all, &tok, func() ([]*iamv1.User, string, error) {
				req, err := authed(cmd.Context(), a, &iamv1.ListGroupMembersRequest{GroupId: args[0], PageSize: mf.pageSize, PageToken: tok})
				if err != nil {
					return nil, "", err
				}
				resp, err := a.identityClient().ListGroupMembers(cmd.Context(), req)
				if err != nil {
					return nil, "", err
				}
				return resp.Msg.GetUsers(), resp.Msg.GetNextPageToken(), nil
			})
			if err != nil {
				return err
			}
			return a.printPage(&iamv1.ListGroupMembersResponse{Users: users, NextPageToken: tok}, userHeader, userRows(users), tok)
		},
	}
	mf.register(members)
	cmd.AddCommand(create, get, list, del, add, remove, members)
	return cmd
}

func saRows(sas []*iamv1.ServiceAccount) [][]string {
	rows := make([][]string, 0, len(sas))
	for _, s := range sas {
		rows = append(rows, []string{s.GetId(), s.GetName(), s.GetDisplayName(), yesNo(s.GetDisabled()), s.GetEtag()})
	}
	return rows
}

var saHeader = []string{"ID", "NAME", "DISPLAY NAME", "DISABLED", "ETAG"}

func (a *app) saCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sa", Aliases: []string{"service-account"}, Short: "Manage service accounts"}
	show := func(m interface{ GetServiceAccount() *iamv1.ServiceAccount }) error {
		return a.print(m.GetServiceAccount(), saHeader, saRows([]*iamv1.ServiceAccount{m.GetServiceAccount()}))
	}
	var display, description, etag string
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a service account", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rpc(cmd, a, &iamv1.CreateServiceAccountRequest{Name: args[0], DisplayName: display, Description: description},
				a.identityClient().CreateServiceAccount, func(m *iamv1.CreateServiceAccountResponse) error { return show(m) })
		},
	}
	create.Flags().StringVar(&display, "display-name", "", "display name")
	create.Flags().StringVar(&description, "description", "", "description")
	get := &cobra.Command{
		Use: "get ID", Short: "Show a service account", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rpc(cmd, a, &iamv1.GetServiceAccountRequest{Id: args[0]}, a.identityClient().GetServiceAccount,
				func(m *iamv1.GetServiceAccountResponse) error { return show(m) })
		},
	}
	var lf listFlags
	list := &cobra.Command{
		Use: "list", Short: "List service accounts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok := lf.pageToken
			sas, err := page(lf.all, &tok, func() ([]*iamv1.ServiceAccount, string, error) {
				req, err := authed(cmd.Context(), a, &iamv1.ListServiceAccountsRequest{PageSize: lf.pageSize, PageToken: tok, Filter: lf.filter})
				if err != nil {
					return nil, "", err
				}
				resp, err := a.identityClient().ListServiceAccounts(cmd.Context(), req)
				if err != nil {
					return nil, "", err
				}
				return resp.Msg.GetServiceAccounts(), resp.Msg.GetNextPageToken(), nil
			})
			if err != nil {
				return err
			}
			return a.printPage(&iamv1.ListServiceAccountsResponse{ServiceAccounts: sas, NextPageToken: tok}, saHeader, saRows(sas), tok)
		},
	}
	lf.register(list)
	withEtag := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVar(&etag, "etag", "", "only if the service account still has this etag")
		return c
	}
	cmd.AddCommand(create, get, list,
		withEtag(&cobra.Command{Use: "delete ID", Short: "Delete a service account and its keys", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return rpc(cmd, a, &iamv1.DeleteServiceAccountRequest{Id: args[0], Etag: etag}, a.identityClient().DeleteServiceAccount,
					func(*iamv1.DeleteServiceAccountResponse) error { return nil })
			}}),
		withEtag(&cobra.Command{Use: "disable ID", Short: "Disable a service account", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return rpc(cmd, a, &iamv1.DisableServiceAccountRequest{Id: args[0], Etag: etag}, a.identityClient().DisableServiceAccount,
					func(m *iamv1.DisableServiceAccountResponse) error { return show(m) })
			}}),
		withEtag(&cobra.Command{Use: "enable ID", Short: "Enable a service account", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return rpc(cmd, a, &iamv1.EnableServiceAccountRequest{Id: args[0], Etag: etag}, a.identityClient().EnableServiceAccount,
					func(m *iamv1.EnableServiceAccountResponse) error { return show(m) })
			}}),
	)
	return cmd
}

func keyRows(ks []*iamv1.ServiceAccountKey) [][]string {
	rows := make([][]string, 0, len(ks))
	for _, k := range ks {
		rows = append(rows, []string{k.GetId(), k.GetServiceAccountId(), k.GetDisplayName(), yesNo(k.GetDisabled()),
			ts(k.GetExpireTime()), k.GetEtag()})
	}
	return rows
}

var keyHeader = []string{"ID", "SERVICE ACCOUNT", "DISPLAY NAME", "DISABLED", "EXPIRES", "ETAG"}

func (a *app) keyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage service account keys (client secrets)"}
	show := func(m interface {
		GetKey() *iamv1.ServiceAccountKey
	}) error {
		return a.print(m.GetKey(), keyHeader, keyRows([]*iamv1.ServiceAccountKey{m.GetKey()}))
	}
	var display, etag string
	var ttl time.Duration
	create := &cobra.Command{
		Use: "create SERVICE_ACCOUNT_ID", Short: "Create a key; its secret is shown once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &iamv1.CreateServiceAccountKeyRequest{ServiceAccountId: args[0], DisplayName: display}
			if ttl > 0 {
				req.ExpireTime = timestamppb.New(time.Now().Add(ttl))
			}
			return rpc(cmd, a, req, a.identityClient().CreateServiceAccountKey, func(m *iamv1.CreateServiceAccountKeyResponse) error {
				return a.print(m, []string{"KEY ID", "CLIENT ID", "CLIENT SECRET (shown once)"},
					[][]string{{m.GetKey().GetId(), m.GetClientId(), m.GetClientSecret()}})
			})
		},
	}
	create.Flags().StringVar(&display, "display-name", "", "display name")
	create.Flags().DurationVar(&ttl, "ttl", 0, "expire the key after this long (never when 0)")
	var lf listFlags
	list := &cobra.Command{
		Use: "list SERVICE_ACCOUNT_ID", Short: "List a service account's keys", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok := lf.pageToken
			ks, err := page(lf.all, &tok, func() ([]*iamv1.ServiceAccountKey, string, error) {
				req, err := authed(cmd.Context(), a, &iamv1.ListServiceAccountKeysRequest{ServiceAccountId: args[0],
					PageSize: lf.pageSize, PageToken: tok, Filter: lf.filter})
				if err != nil {
					return nil, "", err
				}
				resp, err := a.identityClient().ListServiceAccountKeys(cmd.Context(), req)
				if err != nil {
					return nil, "", err
				}
				return resp.Msg.GetKeys(), resp.Msg.GetNextPageToken(), nil
			})
			if err != nil {
				return err
			}
			return a.printPage(&iamv1.ListServiceAccountKeysResponse{Keys: ks, NextPageToken: tok}, keyHeader, keyRows(ks), tok)
		},
	}
	lf.register(list)
	withEtag := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVar(&etag, "etag", "", "only if the key still has this etag")
		return c
	}
	cmd.AddCommand(create, list,
		withEtag(&cobra.Command{Use: "delete KEY_ID", Short: "Delete a key", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return rpc(cmd, a, &iamv1.DeleteServiceAccountKeyRequest{Id: args[0], Etag: etag}, a.identityClient().DeleteServiceAccountKey,
					func(*iamv1.DeleteServiceAccountKeyResponse) error { return nil })
			}}),
		withEtag(&cobra.Command{Use: "disable KEY_ID", Short: "Disable a key", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return rpc(cmd, a, &iamv1.DisableServiceAccountKeyRequest{Id: args[0], Etag: etag}, a.identityClient().DisableServiceAccountKey,
					func(m *iamv1.DisableServiceAccountKeyResponse) error { return show(m) })
			}}),
		withEtag(&cobra.Command{Use: "enable KEY_ID", Short: "Enable a key", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return rpc(cmd, a, &iamv1.EnableServiceAccountKeyRequest{Id: args[0], Etag: etag}, a.identityClient().EnableServiceAccountKey,
					func(m *iamv1.EnableServiceAccountKeyResponse) error { return show(m) })
			}}),
	)
	return cmd
}

func (a *app) signingKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "signing-key", Short: "Manage IAM's token signing keys"}
	cmd.AddCommand(&cobra.Command{
		Use: "rotate", Short: "Start signing with a new key now", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := authed(cmd.Context(), a, &iamv1.RotateSigningKeyRequest{})
			if err != nil {
				return err
			}
			resp, err := a.authClient().RotateSigningKey(cmd.Context(), req)
			if err != nil {
				return err
			}
			return a.print(resp.Msg, []string{"NEW KEY ID"}, [][]string{{resp.Msg.GetKeyId()}})
		},
	})
	return cmd
}
