package ctl

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// policyCommands are the authorization commands: roles, bindings, deny
// policies, and asking or explaining decisions.
func (a *app) policyCommands() []*cobra.Command {
	return []*cobra.Command{a.roleCmd(), a.bindingCmd(), a.denyCmd(), a.authorizeCmd(), a.explainCmd()}
}

func (a *app) policyClient() iamv1connect.PolicyServiceClient {
	return iamv1connect.NewPolicyServiceClient(a.http, a.server)
}

func (a *app) authzClient() iamv1connect.AuthzServiceClient {
	return iamv1connect.NewAuthzServiceClient(a.http, a.server)
}

func condition(expr string) *iamv1.Condition {
	if expr == "" {
		return nil
	}
	return &iamv1.Condition{Expression: expr}
}

// printToken tells the user the consistency token of a write, on stderr so
// JSON output stays parseable.
func (a *app) printToken(tok string) {
	fmt.Fprintf(a.stderr, "consistency token: %s\n", tok)
}

// --- roles ---

func (a *app) printRoles(msg *iamv1.ListRolesResponse) error {
	rows := make([][]string, 0, len(msg.GetRoles()))
	for _, r := range msg.GetRoles() {
		rows = append(rows, []string{r.GetName(), r.GetParent(), yesNo(r.GetBuiltIn()), strings.Join(r.GetPermissions(), ",")})
	}
	return a.print(msg, []string{"NAME", "PARENT", "BUILT-IN", "PERMISSIONS"}, rows)
}

func (a *app) printRole(r *iamv1.Role) error {
	return a.print(r, []string{"NAME", "PARENT", "ETAG", "PERMISSIONS"},
		[][]string{{r.GetName(), r.GetParent(), r.GetEtag(), strings.Join(r.GetPermissions(), ",")}})
}

func (a *app) roleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "role", Short: "Manage roles (built-in and custom)"}
	var parent, title, desc, etag string
	var perms []string
	list := &cobra.Command{Use: "list", Short: "List built-in roles and the custom roles of --parent", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			req, err := authed(c.Context(), a, &iamv1.ListRolesRequest{Parent: parent})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().ListRoles(c.Context(), req)
			if err != nil {
				return fmt.Errorf("list roles: %w", err)
			}
			return a.printRoles(resp.Msg)
		}}
	list.Flags().StringVar(&parent, "parent", "", "resource the custom roles are defined at")
	get := &cobra.Command{Use: "get NAME", Short: "Show a role", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.GetRoleRequest{Name: args[0]})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().GetRole(c.Context(), req)
			if err != nil {
				return fmt.Errorf("get role: %w", err)
			}
			return a.printRole(resp.Msg.GetRole())
		}}
	create := &cobra.Command{Use: "create NAME", Short: "Define a custom role (roles/<id>)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.CreateRoleRequest{Role: &iamv1.Role{
				Name: args[0], Parent: parent, Title: title, Description: desc, Permissions: perms}})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().CreateRole(c.Context(), req)
			if err != nil {
				return fmt.Errorf("create role: %w", err)
			}
			a.printToken(resp.Msg.GetConsistencyToken())
			return a.printRole(resp.Msg.GetRole())
		}}
	update := &cobra.Command{Use: "update NAME", Short: "Replace a custom role's permissions, title and description", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.UpdateRoleRequest{Etag: etag, Role: &iamv1.Role{
				Name: args[0], Title: title, Description: desc, Permissions: perms}})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().UpdateRole(c.Context(), req)
			if err != nil {
				return fmt.Errorf("update role: %w", err)
			}
			a.printToken(resp.Msg.GetConsistencyToken())
			return a.printRole(resp.Msg.GetRole())
		}}
	del := &cobra.Command{Use: "delete NAME", Short: "Delete an unused custom role", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.DeleteRoleRequest{Name: args[0], Etag: etag})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().DeleteRole(c.Context(), req)
			if err != nil {
				return fmt.Errorf("delete role: %w", err)
			}
			a.printToken(resp.Msg.GetConsistencyToken())
			return nil
		}}
	for _, sub := range []*cobra.Command{create, update} {
		sub.Flags().StringVar(&title, "title", "", "title")
		sub.Flags().StringVar(&desc, "description", "", "description")
		sub.Flags().StringSliceVarP(&perms, "permission", "p", nil, "permission or pattern (repeatable or comma-separated)")
	}
	create.Flags().StringVar(&parent, "parent", "", "resource the role is defined at (empty: platform-wide)")
	for _, sub := range []*cobra.Command{update, del} {
		sub.Flags().StringVar(&etag, "etag", "", "only if the role still has this etag")
	}
	cmd.AddCommand(list, get, create, update, del)
	return cmd
}

// --- bindings ---

func (a *app) printBindings(msg proto.Message, bs []*iamv1.Binding) error {
	rows := make([][]string, 0, len(bs))
	for _, b := range bs {
		rows = append(rows, []string{b.GetId(), b.GetResource(), b.GetRole(), strings.Join(b.GetMembers(), ","),
			b.GetCondition().GetExpression(), b.GetEtag()})
	}
	return a.print(msg, []string{"ID", "RESOURCE", "ROLE", "MEMBERS", "CONDITION", "ETAG"}, rows)
}

func (a *app) bindingCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "binding", Short: "Manage allow bindings (role grants)"}
	var resource, role, cond, etag string
	var members []string
	list := &cobra.Command{Use: "list RESOURCE", Short: "List the bindings attached to a resource", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.ListBindingsRequest{Resource: args[0]})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().ListBindings(c.Context(), req)
			if err != nil {
				return fmt.Errorf("list bindings: %w", err)
			}
			return a.printBindings(resp.Msg, resp.Msg.GetBindings())
		}}
	get := &cobra.Command{Use: "get ID", Short: "Show a binding", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.GetBindingRequest{Id: args[0]})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().GetBinding(c.Context(), req)
			if err != nil {
				return fmt.Errorf("get binding: %w", err)
			}
			return a.printBindings(resp.Msg.GetBinding(), []*iamv1.Binding{resp.Msg.GetBinding()})
		}}
	create := &cobra.Command{Use: "create", Short: "Grant --role to --member on --resource", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			req, err := authed(c.Context(), a, &iamv1.CreateBindingRequest{Binding: &iamv1.Binding{
				Resource: resource, Role: role, Members: members, Condition: condition(cond)}})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().CreateBinding(c.Context(), req)
			if err != nil {
				return fmt.Errorf("create binding: %w", err)
			}
			a.printToken(resp.Msg.GetConsistencyToken())
			return a.printBindings(resp.Msg.GetBinding(), []*iamv1.Binding{resp.Msg.GetBinding()})
		}}
	create.Flags().StringVar(&resource, "resource", "", "resource to grant on")
	update := &cobra.Command{Use: "update ID", Short: "Replace a binding's role, members and condition", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.UpdateBindingRequest{Etag: etag, Binding: &iamv1.Binding{
				Id: args[0], Role: role, Members: members, Condition: condition(cond)}})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().UpdateBinding(c.Context(), req)
			if err != nil {
				return fmt.Errorf("update binding: %w", err)
			}
			a.printToken(resp.Msg.GetConsistencyToken())
			return a.printBindings(resp.Msg.GetBinding(), []*iamv1.Binding{resp.Msg.GetBinding()})
		}}
	del := &cobra.Command{Use: "delete ID", Short: "Remove a binding", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.DeleteBindingRequest{Id: args[0], Etag: etag})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().DeleteBinding(c.Context(), req)
			if err != nil {
				return fmt.Errorf("delete binding: %w", err)
			}
			a.printToken(resp.Msg.GetConsistencyToken())
			return nil
		}}
	for _, sub := range []*cobra.Command{create, update} {
		sub.Flags().StringVar(&role, "role", "", "role name (roles/...)")
		sub.Flags().StringSliceVarP(&members, "member", "m", nil, "user:<id>, group:<id> or serviceAccount:<id> (repeatable)")
		sub.Flags().StringVar(&cond, "condition", "", "CEL condition")
	}
	for _, sub := range []*cobra.Command{update, del} {
		sub.Flags().StringVar(&etag, "etag", "", "only if the binding still has this etag")
	}
	cmd.AddCommand(list, get, create, update, del)
	return cmd
}

// --- deny policies ---

func (a *app) printDenies(msg proto.Message, ds []*iamv1.DenyPolicy) error {
	rows := make([][]string, 0, len(ds))
	for _, d := range ds {
		rows = append(rows, []string{d.GetId(), d.GetResource(), strings.Join(d.GetDeniedPrincipals(), ","),
			strings.Join(d.GetExceptionPrincipals(), ","), strings.Join(d.GetDeniedPermissions(), ","),
			d.GetCondition().GetExpression(), d.GetEtag()})
	}
	return a.print(msg, []string{"ID", "RESOURCE", "PRINCIPALS", "EXCEPT", "PERMISSIONS", "CONDITION", "ETAG"}, rows)
}

func (a *app) denyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "deny", Short: "Manage deny policies (checked before bindings; they win)"}
	var resource, cond, desc, etag string
	var principals, except, perms []string
	rule := func(id string) *iamv1.DenyPolicy {
		return &iamv1.DenyPolicy{Id: id, Resource: resource, Description: desc, DeniedPrincipals: principals,
			ExceptionPrincipals: except, DeniedPermissions: perms, Condition: condition(cond)}
	}
	list := &cobra.Command{Use: "list RESOURCE", Short: "List the deny policies attached to a resource", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.ListDenyPoliciesRequest{Resource: args[0]})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().ListDenyPolicies(c.Context(), req)
			if err != nil {
				return fmt.Errorf("list deny policies: %w", err)
			}
			return a.printDenies(resp.Msg, resp.Msg.GetDenyPolicies())
		}}
	get := &cobra.Command{Use: "get ID", Short: "Show a deny policy", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.GetDenyPolicyRequest{Id: args[0]})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().GetDenyPolicy(c.Context(), req)
			if err != nil {
				return fmt.Errorf("get deny policy: %w", err)
			}
			return a.printDenies(resp.Msg.GetDenyPolicy(), []*iamv1.DenyPolicy{resp.Msg.GetDenyPolicy()})
		}}
	create := &cobra.Command{Use: "create", Short: "Deny --permission to --principal on --resource", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			req, err := authed(c.Context(), a, &iamv1.CreateDenyPolicyRequest{DenyPolicy: rule("")})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().CreateDenyPolicy(c.Context(), req)
			if err != nil {
				return fmt.Errorf("create deny policy: %w", err)
			}
			a.printToken(resp.Msg.GetConsistencyToken())
			return a.printDenies(resp.Msg.GetDenyPolicy(), []*iamv1.DenyPolicy{resp.Msg.GetDenyPolicy()})
		}}
	create.Flags().StringVar(&resource, "resource", "", "resource the policy applies to (and below)")
	update := &cobra.Command{Use: "update ID", Short: "Replace a deny policy's rule", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.UpdateDenyPolicyRequest{DenyPolicy: rule(args[0]), Etag: etag})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().UpdateDenyPolicy(c.Context(), req)
			if err != nil {
				return fmt.Errorf("update deny policy: %w", err)
			}
			a.printToken(resp.Msg.GetConsistencyToken())
			return a.printDenies(resp.Msg.GetDenyPolicy(), []*iamv1.DenyPolicy{resp.Msg.GetDenyPolicy()})
		}}
	del := &cobra.Command{Use: "delete ID", Short: "Remove a deny policy", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := authed(c.Context(), a, &iamv1.DeleteDenyPolicyRequest{Id: args[0], Etag: etag})
			if err != nil {
				return err
			}
			resp, err := a.policyClient().DeleteDenyPolicy(c.Context(), req)
			if err != nil {
				return fmt.Errorf("delete deny policy: %w", err)
			}
			a.printToken(resp.Msg.GetConsistencyToken())
			return nil
		}}
	for _, sub := range []*cobra.Command{create, update} {
		sub.Flags().StringSliceVar(&principals, "principal", nil, "denied member, or '*' for everyone (repeatable)")
		sub.Flags().StringSliceVar(&except, "except", nil, "exempted member (repeatable)")
		sub.Flags().StringSliceVarP(&perms, "permission", "p", nil, "denied permission or pattern (repeatable)")
		sub.Flags().StringVar(&cond, "condition", "", "CEL condition (the deny applies when true or when it fails to evaluate)")
		sub.Flags().StringVar(&desc, "description", "", "description")
	}
	for _, sub := range []*cobra.Command{update, del} {
		sub.Flags().StringVar(&etag, "etag", "", "only if the policy still has this etag")
	}
	cmd.AddCommand(list, get, create, update, del)
	return cmd
}
