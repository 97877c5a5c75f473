package etcdapi

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/member"
)

// toConnect converts any error from the layers below into the error a
// connect handler returns, keeping etcd's codes and messages.
func toConnect(err error) error {
	var e *etcderr.Error
	var c *connect.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e.Connect()
	case errors.As(err, &c):
		return c
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return etcderr.Timeout.Connect()
	}
	return connect.NewError(connect.CodeInternal, err)
}

// requireLeader honours the "hasleader: true" metadata clientv3 sends with
// WithRequireLeader (and always with keepalives): without a leader the call
// fails fast with etcd's no-leader error.
type requireLeader struct{ m *member.Member }

// hasLeaderKey is "hasleader" in canonical form: indexing the header with
// it skips Get's canonicalization, an allocation on every call.
const hasLeaderKey = "Hasleader"

func (r requireLeader) check(h http.Header) error {
	if v := h[hasLeaderKey]; len(v) > 0 && v[0] == "true" && !r.m.HasLeader() {
		return etcderr.NoLeader.Connect()
	}
	return nil
}

func (r requireLeader) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := r.check(req.Header()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (r requireLeader) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (r requireLeader) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := r.check(conn.RequestHeader()); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
