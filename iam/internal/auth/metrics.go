package auth

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// instruments are the service's operational counters. They reach
// Prometheus (/metrics) and OTLP through the process's MeterProvider.
type instruments struct {
	logins    metric.Int64Counter
	issued    metric.Int64Counter
	revoked   metric.Int64Counter
	reuse     metric.Int64Counter
	throttled metric.Int64Counter
	rotations metric.Int64Counter
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("github.com/photoncloud/core/iam/internal/auth")
	var in instruments
	var err error
	mk := func(dst *metric.Int64Counter, name, desc string) {
		if err != nil {
			return
		}
		*dst, err = m.Int64Counter(name, metric.WithDescription(desc))
	}
	mk(&in.logins, "iam.logins", "Password logins by outcome.")
	mk(&in.issued, "iam.tokens.issued", "Access tokens issued, by grant.")
	mk(&in.revoked, "iam.tokens.revoked", "Tokens revoked on request, by token type.")
	mk(&in.reuse, "iam.refresh.reuse_detected", "Spent refresh tokens presented again (their session was revoked).")
	mk(&in.throttled, "iam.logins.throttled", "Login attempts refused by throttling.")
	mk(&in.rotations, "iam.signing_key.rotations", "Signing key rotations.")
	if err != nil {
		return nil, fmt.Errorf("auth: creating metrics: %w", err)
	}
	return &in, nil
}

func add(ctx context.Context, c metric.Int64Counter, key, value string) {
	if key == "" {
		c.Add(ctx, 1)
		return
	}
	c.Add(ctx, 1, metric.WithAttributes(attribute.String(key, value)))
}
