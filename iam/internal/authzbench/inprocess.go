package authzbench

import (
	"context"
	"time"

	"github.com/photoncloud/core/iam/internal/authz"
	"github.com/photoncloud/core/iam/internal/store"
)

// InProcess seeds a store in dir and returns an Ask calling an Authorizer
// directly (cacheTTL < 0 disables its cache), and a cleanup function.
func InProcess(ctx context.Context, dir string, sh Shape, cacheTTL time.Duration) (Ask, *Seeded, func(), error) {
	st, err := store.OpenBolt(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	sd, err := Seed(ctx, st, sh, 1)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	az, err := authz.New(ctx, authz.Config{CacheTTL: cacheTTL}, st, st)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	ask := func(ctx context.Context, q Question) (bool, error) {
		d, _, err := az.Authorize(ctx, &authz.Query{Principal: q.Principal, Permission: q.Permission, Resource: q.Resource})
		return d.Allowed, err
	}
	return ask, sd, func() { st.Close() }, nil
}
