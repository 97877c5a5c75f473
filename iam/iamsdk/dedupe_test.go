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

func (d *countingDecider) Authorize(ctx context.Context, q iamsdk.Question) (bool, error) {
	d.calls.Add(1)
	if q.SourceIP != "127.0.0.1" {
		return false, nil // the caller's address must reach IAM
	}
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
	iss, issue := localIssuer(t)
	tok := issue("usr_a")
	dec := &countingDecider{}
	svc := demo.New("orgs/a/projects/p")
	ic, err := iamsdk.NewServerInterceptor(iamsdk.ServerConfig{Keys: iamsdk.NewKeySet(iss, "photoncloud", iamsdk.KeySetOptions{}),
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

// localIssuer serves a JWKS from a fresh keyring and issues user tokens
// with it, so interceptor behaviour can be tested without IAM.
func localIssuer(t *testing.T) (string, func(sub string) string) {
	t.Helper()
	now := time.Now()
	ring, err := token.NewKeyring(now, token.KeyringOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(ring.JWKS())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(jwks) }))
	t.Cleanup(srv.Close)
	return srv.URL, func(sub string) string {
		tok, _, err := ring.IssueAccessToken(time.Now(), token.AccessTokenRequest{Issuer: srv.URL, Subject: sub,
			Audience: []string{"photoncloud"}, TTL: time.Minute, PrincipalKind: token.PrincipalUser})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

// onlyAlice allows user:usr_alice and nobody else.
type onlyAlice struct{}

func (onlyAlice) Authorize(_ context.Context, q iamsdk.Question) (bool, error) {
	return q.Principal == "user:usr_alice" && q.Permission == "demo.feed.watch" && q.Resource == "orgs/a/feed", nil
}

// TestStreamingCallsAreChecked: server streams are authorized before the
// handler runs, with the subject in the handler's context.
func TestStreamingCallsAreChecked(t *testing.T) {
	iss, issue := localIssuer(t)
	const proc = "/photoncloud.demo.v1.FeedService/Watch"
	ic, err := iamsdk.NewServerInterceptor(iamsdk.ServerConfig{Keys: iamsdk.NewKeySet(iss, "photoncloud", iamsdk.KeySetOptions{}),
		Decider: onlyAlice{}, Map: func(_ context.Context, procedure string, req connect.AnyRequest) (iamsdk.Check, error) {
			if procedure != proc || req != nil {
				return iamsdk.Check{}, nil
			}
			return iamsdk.Check{Permission: "demo.feed.watch", Resource: "orgs/a/feed"}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(proc, connect.NewServerStreamHandler(proc, func(ctx context.Context, _ *connect.Request[wrapperspb.StringValue],
		s *connect.ServerStream[wrapperspb.StringValue]) error {
		sub, ok := iamsdk.SubjectFromContext(ctx)
		if !ok {
			return connect.NewError(connect.CodeInternal, nil)
		}
		return s.Send(wrapperspb.String(sub.Member))
	}, connect.WithInterceptors(ic)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	watch := func(tok string) (string, error) {
		opts := []connect.ClientOption{}
		if tok != "" {
			opts = append(opts, connect.WithInterceptors(iamsdk.NewClientInterceptor(staticToken(tok))))
		}
		c := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](http.DefaultClient, srv.URL+proc, opts...)
		st, err := c.CallServerStream(context.Background(), connect.NewRequest(wrapperspb.String("")))
		if err != nil {
			return "", err
		}
		defer st.Close()
		var got string
		for st.Receive() {
			got = st.Msg().GetValue()
		}
		return got, st.Err()
	}
	if got, err := watch(issue("usr_alice")); err != nil || got != "user:usr_alice" {
		t.Fatalf("alice: %q %v", got, err)
	}
	if _, err := watch(issue("usr_bob")); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("bob: %v", err)
	}
	if _, err := watch(""); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("anonymous: %v", err)
	}
}
