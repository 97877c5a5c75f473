package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"connectrpc.com/connect"
)

// requestLogger logs every handled call at debug level, and calls that fail
// with a server-side fault (internal, unknown, data loss) at error level.
// Records carry the trace context because they are logged with the call's
// context, which the OpenTelemetry interceptor ahead of it has filled.
type requestLogger struct{ log *slog.Logger }

func (l requestLogger) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		resp, err := next(ctx, req)
		l.record(ctx, req.Spec().Procedure, req.Peer().Addr, start, err)
		return resp, err
	}
}

func (l requestLogger) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (l requestLogger) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		l.record(ctx, conn.Spec().Procedure, conn.Peer().Addr, start, err)
		return err
	}
}

func (l requestLogger) record(ctx context.Context, procedure, peer string, start time.Time, err error) {
	code := "ok"
	level := slog.LevelDebug
	if err != nil {
		c := connect.CodeOf(err)
		code = c.String()
		if c == connect.CodeInternal || c == connect.CodeUnknown || c == connect.CodeDataLoss {
			level = slog.LevelError
		}
	}
	if !l.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("procedure", procedure),
		slog.String("code", code),
		slog.String("peer", peer),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	}
	var cerr *connect.Error
	if errors.As(err, &cerr) && level >= slog.LevelError {
		attrs = append(attrs, slog.String("error", cerr.Message()))
	}
	l.log.LogAttrs(ctx, level, "rpc", attrs...)
}
