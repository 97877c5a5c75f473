package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/photoncloud/core/iam/internal/audit"
	"github.com/photoncloud/core/iam/internal/auth"
	"github.com/photoncloud/core/iam/internal/authz"
	"github.com/photoncloud/core/iam/internal/policy"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// Audit implements iam.v1.AuditService. Who may read or prune the log is
// the policy engine's decision (iam.audit.read, iam.audit.prune on root),
// like every other IAM permission, so it can be granted without making
// someone an identity administrator.
type Audit struct {
	auth *auth.Service
	az   *authz.Authorizer
	log  *audit.Log
	slog *slog.Logger
}

var _ iamv1connect.AuditServiceHandler = (*Audit)(nil)

// NewAudit returns the AuditService implementation.
func NewAudit(svc *auth.Service, az *authz.Authorizer, l *audit.Log, log *slog.Logger) *Audit {
	return &Audit{auth: svc, az: az, log: l, slog: log}
}

// allowed authenticates the caller and asks the engine for perm on root.
// fresh bypasses the decision cache (for prune, which cannot be undone).
// The returned context carries the caller for audit attribution.
func (a *Audit) allowed(ctx context.Context, h http.Header, peer, perm string, fresh bool) (context.Context, error) {
	p, err := authenticate(ctx, a.auth, a.slog, h)
	if err != nil {
		return nil, err
	}
	q := &authz.Query{Principal: memberOf(p), Permission: perm, Resource: policy.Root, SourceIP: peerIP(peer)}
	if fresh {
		q.MinRevision = a.az.Index().Revision()
	}
	d, _, err := a.az.Authorize(ctx, q)
	if err != nil {
		return nil, authzError(ctx, a.slog, err)
	}
	if !d.Allowed {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New(perm+" on "+policy.Root+" required"))
	}
	return audit.WithRequest(ctx, audit.Request{Principal: q.Principal, SourceIP: q.SourceIP,
		RequestID: h.Get("X-Request-Id")}), nil
}

func (a *Audit) fail(ctx context.Context, err error) error {
	if errors.Is(err, audit.ErrInvalidQuery) {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return toConnectError(ctx, a.slog, err)
}

// QueryAudit returns one page of matching records.
func (a *Audit) QueryAudit(ctx context.Context, req *connect.Request[iamv1.QueryAuditRequest]) (*connect.Response[iamv1.QueryAuditResponse], error) {
	ctx, err := a.allowed(ctx, req.Header(), req.Peer().Addr, policy.PermAuditRead, false)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	f := audit.Filter{Principal: m.GetPrincipal(), Action: m.GetAction(), ResourcePrefix: m.GetResourcePrefix(),
		Outcome: m.GetOutcome(), PageSize: int(m.GetPageSize()), PageToken: m.GetPageToken()}
	if m.Since != nil {
		f.Since = m.GetSince().AsTime()
	}
	if m.Until != nil {
		f.Until = m.GetUntil().AsTime()
	}
	recs, next, err := a.log.Query(ctx, f)
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	out := &iamv1.QueryAuditResponse{NextPageToken: next}
	for _, r := range recs {
		out.Records = append(out.Records, auditPB(r))
	}
	return connect.NewResponse(out), nil
}

// VerifyAudit walks the chain and its checkpoints.
func (a *Audit) VerifyAudit(ctx context.Context, req *connect.Request[iamv1.VerifyAuditRequest]) (*connect.Response[iamv1.VerifyAuditResponse], error) {
	ctx, err := a.allowed(ctx, req.Header(), req.Peer().Addr, policy.PermAuditRead, false)
	if err != nil {
		return nil, err
	}
	rep, err := a.log.Verify(ctx)
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	return connect.NewResponse(&iamv1.VerifyAuditResponse{
		Ok: rep.OK, Records: uint64(rep.Records), Checkpoints: uint64(rep.Checkpoints), FromSeq: rep.From,
		HeadSeq: rep.Head, BrokenSeq: rep.BrokenSeq, Reason: rep.Reason, PublicKey: a.log.PublicKey(),
	}), nil
}

// ExportAudit streams records from from_seq on.
func (a *Audit) ExportAudit(ctx context.Context, req *connect.Request[iamv1.ExportAuditRequest], stream *connect.ServerStream[iamv1.ExportAuditResponse]) error {
	ctx, err := a.allowed(ctx, req.Header(), req.Peer().Addr, policy.PermAuditRead, false)
	if err != nil {
		return err
	}
	err = a.log.Export(ctx, req.Msg.GetFromSeq(), func(r *audit.Record) error {
		return stream.Send(&iamv1.ExportAuditResponse{Record: auditPB(r)})
	})
	if err != nil {
		return a.fail(ctx, err)
	}
	return nil
}

// PruneAudit drops records through a signed checkpoint; the log records
// the prune (or the refusal) itself.
func (a *Audit) PruneAudit(ctx context.Context, req *connect.Request[iamv1.PruneAuditRequest]) (*connect.Response[iamv1.PruneAuditResponse], error) {
	ctx, err := a.allowed(ctx, req.Header(), req.Peer().Addr, policy.PermAuditPrune, true)
	if err != nil {
		return nil, err
	}
	n, at, err := a.log.Prune(ctx, req.Msg.GetThroughSeq())
	if errors.Is(err, audit.ErrNoCheckpoint) {
		return nil, connect.NewError(connect.CodeFailedPrecondition, audit.ErrNoCheckpoint)
	}
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	return connect.NewResponse(&iamv1.PruneAuditResponse{Pruned: uint64(n), ThroughSeq: at}), nil
}

func auditPB(r *audit.Record) *iamv1.AuditRecord {
	out := &iamv1.AuditRecord{
		Seq: r.Seq, Id: r.ID, Principal: r.Principal, Action: r.Action, Resource: r.Resource, Outcome: r.Outcome,
		Reason: r.Reason, SourceIp: r.SourceIP, RequestId: r.RequestID, TraceId: r.TraceID, PrevHash: r.PrevHash, Hash: r.Hash,
	}
	if t := r.At(); !t.IsZero() {
		out.Time = timestamppb.New(t.In(time.UTC))
	}
	return out
}
