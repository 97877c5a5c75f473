package audit

import (
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/photoncloud/core/iam/internal/authz"
	"github.com/photoncloud/core/iam/internal/policy"
	"github.com/photoncloud/core/iam/internal/store"
)

// IdentityHook returns the store hook that records identity writes in
// their own transaction.
func (l *Log) IdentityHook() store.IdentityHook {
	return func(ctx context.Context, tx *bolt.Tx, c store.IdentityChange) error {
		res := c.Target
		if c.Detail != "" {
			res += "/" + c.Detail
		}
		r := FromContext(ctx, Record{Action: c.Action, Resource: res, Outcome: OutcomeSuccess})
		if r.Principal == "" {
			r.Principal = "iam" // IAM's own maintenance, e.g. key rotation
		}
		return l.AppendTx(tx, r)
	}
}

// PolicyHook returns the store hook that records policy writes in their
// own transaction.
func (l *Log) PolicyHook() store.PolicyHook {
	return func(tx *bolt.Tx, c store.PolicyChange) error {
		res := c.Resource
		if c.Target != "" {
			res = strings.TrimSuffix(res, "/") + "/" + c.Target
		}
		principal := c.Actor
		if principal == "" {
			principal = "iam"
		}
		return l.AppendTx(tx, Record{Principal: principal, Action: c.Action, Resource: res,
			Outcome: OutcomeSuccess, Reason: fmt.Sprintf("policy revision %d", c.Revision), SourceIP: c.SourceIP, RequestID: c.RequestID})
	}
}

var _ authz.DecisionRecorder = (*Log)(nil)

// RecordDecision logs every deny and allows per the configured level.
// Errors are dropped: a decision is never refused for want of a record,
// but the written-records metric stops moving, which alerts.
func (l *Log) RecordDecision(ctx context.Context, d authz.DecisionRecord) {
	outcome := OutcomeDeny
	if d.Allowed {
		outcome = OutcomeAllow
		switch l.cfg.Allow {
		case AllowNone:
			return
		case AllowSampled:
			if l.allows.Add(1)%l.cfg.SampleEvery != 1 {
				return
			}
		}
	}
	r := Record{Principal: d.Principal, Action: d.Permission, Resource: d.Resource,
		Outcome: outcome, Reason: reasonText(d.Reason), SourceIP: d.SourceIP}
	if !d.Time.IsZero() {
		r.Time = d.Time.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
	}
	l.enqueueOrWrite(ctx, FromContext(ctx, r))
}

func reasonText(r policy.Reason) string {
	switch r {
	case policy.ReasonAllowed:
		return "allowed"
	case policy.ReasonDenied:
		return "explicit deny"
	case policy.ReasonDenyConditionError:
		return "deny condition error"
	case policy.ReasonNoMatchingBinding:
		return "no matching binding"
	default:
		return fmt.Sprintf("reason %d", int(r))
	}
}

// AuthEvent records a login or token event (auth.EventSink). A record that
// cannot be written is dropped rather than failing the login; the
// written-records metric shows the gap.
func (l *Log) AuthEvent(ctx context.Context, principal, action, outcome, reason string) {
	_ = l.Event(ctx, principal, action, outcome, reason)
}
