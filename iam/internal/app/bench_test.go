package app

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/pkg/servertest"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// BenchmarkIntrospectLoopback measures AuthService.Introspect over gRPC on
// loopback, with parallel callers sharing one HTTP/2 connection pool.
func BenchmarkIntrospectLoopback(b *testing.B) {
	addr := servertest.FreeAddr(b)
	base := "http://" + addr
	servertest.RunCommand(b, command("bench", "bench", testOptions), addr,
		"--listen-addr", addr, "--data-dir", b.TempDir(), "--issuer", base,
		"--bootstrap-admin-password", adminPassword, "--log-level", "error")
	servertest.WaitReady(b, addr)
	ctx := context.Background()
	client := iamv1connect.NewAuthServiceClient(servertest.HTTP2Client(), base, connect.WithGRPC())
	login, err := client.Login(ctx, connect.NewRequest(&iamv1.LoginRequest{Username: "admin", Password: adminPassword}))
	if err != nil {
		b.Fatal(err)
	}
	tok := login.Msg.GetTokens().GetAccessToken()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := connect.NewRequest(&iamv1.IntrospectRequest{Token: tok})
			req.Header().Set("Authorization", "Bearer "+tok)
			resp, err := client.Introspect(ctx, req)
			if err != nil || !resp.Msg.GetActive() {
				b.Errorf("Introspect: %v %v", resp, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rpc/s")
}
