package iamsdk_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/iam/iamsdk"
	"github.com/photoncloud/core/iam/internal/iamtest"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// TestRefreshTokenSource: a user's client keeps working from a refresh
// token, which rotates on use and is handed back for persisting; the
// spent one is then useless (reuse detection revokes the family).
func TestRefreshTokenSource(t *testing.T) {
	e := iamtest.Start(t)
	ctx := context.Background()
	var mu sync.Mutex
	var rotated []string
	ts := iamsdk.RefreshTokenSource(nil, e.Base, e.AdminRefresh, func(rt string) {
		mu.Lock()
		defer mu.Unlock()
		rotated = append(rotated, rt)
	})
	auth := iamv1connect.NewAuthServiceClient(http.DefaultClient, e.Base, connect.WithInterceptors(iamsdk.NewClientInterceptor(ts)))
	for range 3 {
		who, err := auth.WhoAmI(ctx, connect.NewRequest(&iamv1.WhoAmIRequest{}))
		if err != nil || who.Msg.GetName() != "admin" {
			t.Fatalf("whoami: %v %v", who, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// The access token is reused until it nears expiry: one refresh only.
	if len(rotated) != 1 || rotated[0] == e.AdminRefresh || rotated[0] == "" {
		t.Fatalf("rotations: %d", len(rotated))
	}
	if _, err := e.Auth.Refresh(ctx, connect.NewRequest(&iamv1.RefreshRequest{RefreshToken: e.AdminRefresh})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("spent refresh token accepted: %v", err)
	}
}
