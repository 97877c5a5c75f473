package auth

import (
	"context"
	"testing"

	"github.com/photoncloud/core/iam/internal/password"
)

// BenchmarkLogin measures a full password login with the production
// Argon2id parameters; the hash dominates by design.
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	f := newFixtureTB(b, password.DefaultParams())
	f.addUserTB(b, "bench", "correct horse battery")
	b.ResetTimer()
	for b.Loop() {
		// Distinct sources keep throttling out of the measurement.
		if _, err := f.svc.Login(ctx, LoginRequest{Username: "bench", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate measures access-token authentication as RPCs do
// it: signature and claims plus the revocation and principal lookups.
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	f := newFixtureTB(b, fastParams)
	f.addUserTB(b, "bench", "correct horse battery")
	ts, err := f.svc.Login(ctx, LoginRequest{Username: "bench", Password: "correct horse battery", TOTPCode: "", Source: "192.0.2.1:1"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.svc.Authenticate(ctx, ts.AccessToken); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
