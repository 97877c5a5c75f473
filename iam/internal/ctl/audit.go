package ctl

import (
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

func (a *app) auditClient() iamv1connect.AuditServiceClient {
	return iamv1connect.NewAuditServiceClient(a.http, a.server)
}

// auditCmd reads the audit log (query, verify, export) and applies
// retention (prune).
func (a *app) auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Query, verify, export and prune the audit log"}
	cmd.AddCommand(a.auditQueryCmd(), a.auditVerifyCmd(), a.auditExportCmd(), a.auditPruneCmd())
	return cmd
}

func parseTime(flag, v string) (*timestamppb.Timestamp, error) {
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, fmt.Errorf("--%s must be RFC 3339 (2026-01-02T15:04:05Z): %w", flag, err)
	}
	return timestamppb.New(t), nil
}

func (a *app) auditQueryCmd() *cobra.Command {
	m := &iamv1.QueryAuditRequest{}
	var since, until string
	var all bool
	cmd := &cobra.Command{Use: "query", Short: "List audit records matching filters", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var err error
			if m.Since, err = parseTime("since", since); err != nil {
				return err
			}
			if m.Until, err = parseTime("until", until); err != nil {
				return err
			}
			out := &iamv1.QueryAuditResponse{}
			for {
				req, err := authed(c.Context(), a, m)
				if err != nil {
					return err
				}
				resp, err := a.auditClient().QueryAudit(c.Context(), req)
				if err != nil {
					return fmt.Errorf("audit query: %w", err)
				}
				out.Records = append(out.Records, resp.Msg.GetRecords()...)
				out.NextPageToken = resp.Msg.GetNextPageToken()
				if !all || out.NextPageToken == "" {
					break
				}
				m.PageToken = out.NextPageToken
			}
			rows := make([][]string, 0, len(out.Records))
			for _, r := range out.Records {
				rows = append(rows, []string{fmt.Sprint(r.GetSeq()), r.GetTime().AsTime().Format(time.RFC3339), r.GetPrincipal(),
					r.GetAction(), r.GetResource(), r.GetOutcome(), r.GetReason()})
			}
			if err := a.print(out, []string{"SEQ", "TIME", "PRINCIPAL", "ACTION", "RESOURCE", "OUTCOME", "REASON"}, rows); err != nil {
				return err
			}
			if out.NextPageToken != "" {
				fmt.Fprintf(a.stderr, "next page: --page-token %s\n", out.NextPageToken)
			}
			return nil
		}}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "records at or after this time (RFC 3339)")
	f.StringVar(&until, "until", "", "records before this time (RFC 3339)")
	f.StringVar(&m.Principal, "principal", "", "member string, e.g. user:usr_...")
	f.StringVar(&m.Action, "action", "", "action, e.g. iam.users.create")
	f.StringVar(&m.ResourcePrefix, "resource-prefix", "", "resource name prefix")
	f.StringVar(&m.Outcome, "outcome", "", "success, failure, allow or deny")
	f.Int32Var(&m.PageSize, "page-size", 0, "records per page (server default 100, max 1000)")
	f.StringVar(&m.PageToken, "page-token", "", "continue from a previous page")
	f.BoolVar(&all, "all", false, "follow page tokens to the end")
	return cmd
}

// errBroken makes `iamctl audit verify` exit non-zero on a broken chain.
var errBroken = errors.New("audit log verification FAILED")

func (a *app) auditVerifyCmd() *cobra.Command {
	return &cobra.Command{Use: "verify", Short: "Verify the audit chain and its signed checkpoints", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			req, err := authed(c.Context(), a, &iamv1.VerifyAuditRequest{})
			if err != nil {
				return err
			}
			resp, err := a.auditClient().VerifyAudit(c.Context(), req)
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			r := resp.Msg
			status := "OK"
			if !r.GetOk() {
				status = "BROKEN"
			}
			row := []string{status, fmt.Sprint(r.GetFromSeq()), fmt.Sprint(r.GetHeadSeq()), fmt.Sprint(r.GetCheckpoints()),
				fmt.Sprint(r.GetBrokenSeq()), r.GetReason(), base64.StdEncoding.EncodeToString(r.GetPublicKey())}
			if err := a.print(r, []string{"STATUS", "FROM", "HEAD", "CHECKPOINTS", "BROKEN-AT", "REASON", "PUBLIC-KEY"}, [][]string{row}); err != nil {
				return err
			}
			if !r.GetOk() {
				return fmt.Errorf("%w at record %d: %s", errBroken, r.GetBrokenSeq(), r.GetReason())
			}
			return nil
		}}
}

func (a *app) auditExportCmd() *cobra.Command {
	var from uint64
	cmd := &cobra.Command{Use: "export", Short: "Stream audit records as JSON lines (resume with --from LAST+1)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			req, err := authed(c.Context(), a, &iamv1.ExportAuditRequest{FromSeq: from})
			if err != nil {
				return err
			}
			stream, err := a.auditClient().ExportAudit(c.Context(), req)
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			defer stream.Close()
			var last uint64
			for stream.Receive() {
				rec := stream.Msg().GetRecord()
				b, err := protojson.Marshal(rec)
				if err != nil {
					return err
				}
				if _, err := fmt.Fprintln(a.stdout, string(b)); err != nil {
					return err
				}
				last = rec.GetSeq()
			}
			if err := stream.Err(); err != nil {
				return fmt.Errorf("audit export interrupted after record %d (resume with --from %d): %w", last, last+1, err)
			}
			return nil
		}}
	cmd.Flags().Uint64Var(&from, "from", 1, "first record sequence to export")
	return cmd
}

func (a *app) auditPruneCmd() *cobra.Command {
	var through uint64
	cmd := &cobra.Command{Use: "prune", Short: "Drop the oldest records through a signed checkpoint (retention)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			req, err := authed(c.Context(), a, &iamv1.PruneAuditRequest{ThroughSeq: through})
			if err != nil {
				return err
			}
			resp, err := a.auditClient().PruneAudit(c.Context(), req)
			if err != nil {
				return fmt.Errorf("audit prune: %w", err)
			}
			r := resp.Msg
			return a.print(r, []string{"PRUNED", "THROUGH"}, [][]string{{fmt.Sprint(r.GetPruned()), fmt.Sprint(r.GetThroughSeq())}})
		}}
	cmd.Flags().Uint64Var(&through, "through", 0, "sequence of a signed checkpoint to prune through (0: the newest checkpoint)")
	return cmd
}
