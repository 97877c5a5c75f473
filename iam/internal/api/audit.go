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
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// Audit implements iam.v1.AuditService for administrators.
type Audit struct {
	auth *auth.Service
	log  *audit.Log
	slog *slog.Logger
}

var _ iamv1connect.AuditServiceHandler = (*Audit)(nil)

// NewAudit returns the AuditService implementation.
func NewAudit(svc *auth.Service, l *audit.Log, log *slog.Logger) *Audit {
	return &Audit{auth: svc, log: l, slog: log}
}

func (a *Audit) admin(ctx context.Context, h http.Header) error {
	p, err := authenticate(ctx, a.auth, a.slog, h)
	if err != nil {
		return err
	}
	ok, err := a.auth.IsAdmin(ctx, p)
	if err != nil {
		return toConnectError(ctx, a.slog, err)
	}
	if !ok {
		return connect.NewError(connect.CodePermissionDenied, errors.New("administrator rights required"))
	}
	return nil
}

func (a *Audit) fail(ctx context.Context, err error) error {
	if errors.Is(err, audit.ErrInvalidQuery) {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return toConnectError(ctx, a.slog, err)
}

// QueryAudit returns one page of matching records.
func (a *Audit) QueryAudit(ctx context.Context, req *connect.Request[iamv1.QueryAuditRequest]) (*connect.Response[iamv1.QueryAuditResponse], error) {
	if err := a.admin(ctx, req.Header()); err != nil {
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
	if err := a.admin(ctx, req.Header()); err != nil {
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
	if err := a.admin(ctx, req.Header()); err != nil {
		return err
	}
	err := a.log.Export(ctx, req.Msg.GetFromSeq(), func(r *audit.Record) error {
		return stream.Send(&iamv1.ExportAuditResponse{Record: auditPB(r)})
	})
	if err != nil {
		return a.fail(ctx, err)
	}
	return nil
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
