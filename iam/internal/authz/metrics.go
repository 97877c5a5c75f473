package authz

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// instruments: decisions by outcome, cache lookups by result (the hit
// ratio is hits / (hits + misses)), and decision latency.
type instruments struct {
	decisions metric.Int64Counter
	cache     metric.Int64Counter
	latency   metric.Float64Histogram
	reloads   metric.Int64Counter
}

var (
	outcomeAllow = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "allow")))
	outcomeDeny  = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "deny")))
	cacheHit     = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "hit")))
	cacheMiss    = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "miss")))
)

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("github.com/photoncloud/core/iam/internal/authz")
	var in instruments
	var err error
	if in.decisions, err = m.Int64Counter("iam.authz.decisions", metric.WithDescription("Authorization decisions by outcome.")); err != nil {
		return nil, fmt.Errorf("authz: metrics: %w", err)
	}
	if in.cache, err = m.Int64Counter("iam.authz.cache.lookups", metric.WithDescription("Decision cache lookups by result (hit, miss).")); err != nil {
		return nil, fmt.Errorf("authz: metrics: %w", err)
	}
	if in.reloads, err = m.Int64Counter("iam.authz.index.reloads", metric.WithDescription("Policy index rebuilds.")); err != nil {
		return nil, fmt.Errorf("authz: metrics: %w", err)
	}
	in.latency, err = m.Float64Histogram("iam.authz.decision.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to decide one request, cache included."),
		metric.WithExplicitBucketBoundaries(1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2))
	if err != nil {
		return nil, fmt.Errorf("authz: metrics: %w", err)
	}
	return &in, nil
}

func (in *instruments) decided(ctx context.Context, allowed bool, start time.Time) {
	if allowed {
		in.decisions.Add(ctx, 1, outcomeAllow)
	} else {
		in.decisions.Add(ctx, 1, outcomeDeny)
	}
	in.latency.Record(ctx, time.Since(start).Seconds())
}

func (in *instruments) lookup(ctx context.Context, hit bool) {
	if hit {
		in.cache.Add(ctx, 1, cacheHit)
	} else {
		in.cache.Add(ctx, 1, cacheMiss)
	}
}
