package ctl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	iamv1 "github.com/photoncloud/core/proto/iam/v1"
)

// questionFlags are the flags of authorize and explain.
type questionFlags struct {
	principal, permission, resource, token string
	attrs, resAttrs                        []string
}

func (q *questionFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&q.principal, "principal", "", "user:<id> or serviceAccount:<id> (default: yourself; others need iam.authz.check/explain)")
	f.StringVarP(&q.permission, "permission", "p", "", "permission, service.resource.verb")
	f.StringVarP(&q.resource, "resource", "r", "", "resource name")
	f.StringVar(&q.token, "consistency-token", "", "decide on policy at least as fresh as this write's token")
	f.StringSliceVar(&q.attrs, "attr", nil, "request attribute key=value (repeatable)")
	f.StringSliceVar(&q.resAttrs, "resource-attr", nil, "resource attribute key=value (repeatable)")
}

func kvMap(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("attribute %q is not key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

func (q *questionFlags) request() (*iamv1.AuthorizeRequest, error) {
	if q.permission == "" || q.resource == "" {
		return nil, fmt.Errorf("--permission and --resource are required")
	}
	attrs, err := kvMap(q.attrs)
	if err != nil {
		return nil, err
	}
	resAttrs, err := kvMap(q.resAttrs)
	if err != nil {
		return nil, err
	}
	return &iamv1.AuthorizeRequest{Principal: q.principal, Permission: q.permission, Resource: q.resource,
		RequestAttributes: attrs, ResourceAttributes: resAttrs, ConsistencyToken: q.token}, nil
}

func verdict(d *iamv1.AuthorizeResponse) string {
	if d.GetAllowed() {
		return "ALLOW"
	}
	return "DENY"
}

func reasonText(r iamv1.Reason) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "REASON_"))
}

// errDenied is returned by authorize --exit-code for a denial.
var errDenied = errors.New("denied")

func (a *app) authorizeCmd() *cobra.Command {
	var q questionFlags
	var exitCode bool
	cmd := &cobra.Command{Use: "authorize", Short: "Ask whether a principal may use a permission on a resource", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, err := q.request()
			if err != nil {
				return err
			}
			req, err := authed(c.Context(), a, m)
			if err != nil {
				return err
			}
			resp, err := a.authzClient().Authorize(c.Context(), req)
			if err != nil {
				return fmt.Errorf("authorize: %w", err)
			}
			d := resp.Msg
			err = a.print(d, []string{"DECISION", "REASON", "BINDINGS", "DENY POLICIES", "TOKEN"}, [][]string{{
				verdict(d), reasonText(d.GetReason()), strings.Join(d.GetBindingIds(), ","),
				strings.Join(d.GetDenyPolicyIds(), ","), d.GetConsistencyToken()}})
			if err == nil && exitCode && !d.GetAllowed() {
				return errDenied
			}
			return err
		}}
	q.register(cmd)
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "fail (exit status 1) when the answer is DENY, for scripts")
	return cmd
}

func (a *app) explainCmd() *cobra.Command {
	var q questionFlags
	cmd := &cobra.Command{Use: "explain", Short: "Explain a decision: every binding and deny policy considered and why", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, err := q.request()
			if err != nil {
				return err
			}
			req, err := authed(c.Context(), a, &iamv1.ExplainRequest{Request: m})
			if err != nil {
				return err
			}
			resp, err := a.authzClient().Explain(c.Context(), req)
			if err != nil {
				return fmt.Errorf("explain: %w", err)
			}
			d := resp.Msg.GetDecision()
			if a.output != "json" {
				fmt.Fprintf(a.stdout, "%s (%s)  groups: %s\n\n", verdict(d), reasonText(d.GetReason()), strings.Join(resp.Msg.GetGroups(), ","))
			}
			rows := make([][]string, 0, len(resp.Msg.GetPolicies()))
			for _, p := range resp.Msg.GetPolicies() {
				kind := "binding"
				if p.GetKind() == iamv1.ExplainedPolicy_KIND_DENY_POLICY {
					kind = "deny"
				}
				applied := ""
				if p.GetApplied() {
					applied = "*"
				}
				rows = append(rows, []string{applied, kind, p.GetId(), p.GetResource(), p.GetRole(),
					strings.ToLower(strings.TrimPrefix(p.GetCondition().String(), "CONDITION_RESULT_")), p.GetDetail()})
			}
			return a.print(resp.Msg, []string{"", "KIND", "ID", "ATTACHED TO", "ROLE", "CONDITION", "WHY"}, rows)
		}}
	q.register(cmd)
	return cmd
}
