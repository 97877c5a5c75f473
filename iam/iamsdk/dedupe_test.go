package iamsdk_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/photoncloud/core/iam/examples/demo"
	"github.com/photoncloud/core/iam/iamsdk"
	"github.com/photoncloud/core/iam/internal/token"
)

// countingDecider allows everything slowly and counts the questions.
type countingDecider struct{ calls atomic.Int64 }

func (d *countingDecider) Authorize(ctx context.Context, principal, permission, resource string, _ map[string]string) (bool, error) {
	d.calls.Add(1)
	select {
	case <-time.After(100 * time.Millisecond):
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// TestConcurrentIdenticalChecksShareOneCall: a burst of identical calls
// reaches IAM once, without IAM being involved at all in this test (keys
// come from a local keyring's JWKS).
func TestConcurrentIdenticalChecksShareOneCall(t *testing.T) {
	now := time.Now()
	ring, err := token.NewKeyring(now, token.KeyringOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(ring.JWKS())
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(jwks) }))
	defer issuer.Close()
	tok, _, err := ring.IssueAccessToken(now, token.AccessTokenRequest{Issuer: issuer.URL, Subject: "usr_a",
		Audience: []string{"photoncloud"}, TTL: time.Minute, PrincipalKind: token.PrincipalUser})
	if err != nil {
		t.Fatal(err)
	}
	dec := &countingDecider{}
	svc := demo.New("orgs/a/projects/p")
	ic, err := iamsdk.NewServerInterceptor(iamsdk.ServerConfig{Keys: iamsdk.NewKeySet(issuer.URL, "photoncloud", iamsdk.KeySetOptions{}),
		Decider: dec, Map: svc.Map})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux, connect.WithInterceptors(ic))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := demo.NewClient(http.DefaultClient, srv.URL, connect.WithInterceptors(iamsdk.NewClientInterceptor(staticToken(tok))))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Get.CallUnary(context.Background(), connect.NewRequest(wrapperspb.String("n1")))
			if connect.CodeOf(err) != connect.CodeNotFound {
				t.Errorf("get: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := dec.calls.Load(); n != 1 {
		t.Fatalf("IAM asked %d times for one question", n)
	}
}
