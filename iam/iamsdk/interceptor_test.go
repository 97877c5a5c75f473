package iamsdk_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/photoncloud/core/iam/examples/demo"
	"github.com/photoncloud/core/iam/iamsdk"
	"github.com/photoncloud/core/iam/internal/iamtest"
	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

const project = "orgs/acme/projects/demo"

// clock is a test clock the interceptor and key set share.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// switchable fails every request while down is set: IAM "unreachable".
type switchable struct {
	down atomic.Bool
	next http.RoundTripper
}

func (s *switchable) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.down.Load() {
		return nil, errors.New("connection refused (test)")
	}
	return s.next.RoundTrip(r)
}

type world struct {
	iam      *iamtest.Env
	clk      *clock
	link     *switchable
	svc      *demo.Service
	url      string
	keys     *iamsdk.KeySet
	members  map[string]string
	secrets  map[string][2]string
	bindings map[string]*iamv1.Binding
}

func setup(t *testing.T) *world {
	e := iamtest.Start(t)
	w := &world{iam: e, clk: &clock{now: time.Now()}, link: &switchable{next: http.DefaultTransport},
		members: map[string]string{}, secrets: map[string][2]string{}, bindings: map[string]*iamv1.Binding{}}
	for _, name := range []string{"demo-svc", "reader", "writer", "frontend", "outsider"} {
		m, id, secret := e.ServiceAccount(name)
		w.members[name], w.secrets[name] = m, [2]string{id, secret}
	}
	e.Role("roles/demo.reader", "orgs/acme", demo.PermRead)
	e.Role("roles/demo.writer", "orgs/acme", demo.PermRead, demo.PermWrite)
	e.Bind("root", "roles/iam.authorizer", w.members["demo-svc"])
	w.bindings["reader"], _ = e.Bind(project, "roles/demo.reader", w.members["reader"], w.members["frontend"])
	w.bindings["writer"], _ = e.Bind(project, "roles/demo.writer", w.members["writer"])

	// The demo service calls IAM as demo-svc, through a link the test can
	// cut.
	iamHTTP := &http.Client{Transport: w.link}
	ts := iamsdk.ClientCredentialsSource(context.Background(), iamHTTP, e.Base, w.secrets["demo-svc"][0], w.secrets["demo-svc"][1])
	authz := iamv1connect.NewAuthzServiceClient(iamHTTP, e.Base, connect.WithInterceptors(iamsdk.NewClientInterceptor(ts)))
	w.keys = iamsdk.NewKeySet(e.Base, iamtest.Audience, iamsdk.KeySetOptions{Now: w.clk.Now, MinRefetch: time.Second})
	w.svc = demo.New(project)
	ic, err := iamsdk.NewServerInterceptor(iamsdk.ServerConfig{Keys: w.keys, Decider: iamsdk.AuthzClient(authz),
		Map: w.svc.Map, CacheTTL: 5 * time.Second, Now: w.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	w.svc.Register(mux, connect.WithInterceptors(ic))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w.url = srv.URL
	return w
}

// client returns demo clients calling as the named service account.
func (w *world) client(name string) *demo.Client {
	ts := iamsdk.ClientCredentialsSource(context.Background(), nil, w.iam.Base, w.secrets[name][0], w.secrets[name][1])
	return demo.NewClient(http.DefaultClient, w.url, connect.WithInterceptors(iamsdk.NewClientInterceptor(ts)))
}

func code(err error) connect.Code {
	if err == nil {
		return 0
	}
	return connect.CodeOf(err)
}

func put(c *demo.Client, v string) error {
	_, err := c.Put.CallUnary(context.Background(), connect.NewRequest(wrapperspb.String(v)))
	return err
}

func get(ctx context.Context, c *demo.Client, id string) error {
	_, err := c.Get.CallUnary(ctx, connect.NewRequest(wrapperspb.String(id)))
	return err
}

func TestInterceptorEnforcesBindings(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	writer, reader, outsider := w.client("writer"), w.client("reader"), w.client("outsider")
	if err := put(writer, "n1=hello"); err != nil {
		t.Fatalf("writer put: %v", err)
	}
	if err := get(ctx, reader, "n1"); err != nil {
		t.Fatalf("reader get: %v", err)
	}
	if c := code(put(reader, "n1=overwrite")); c != connect.CodePermissionDenied {
		t.Fatalf("reader put: %v", c)
	}
	if c := code(get(ctx, outsider, "n1")); c != connect.CodePermissionDenied {
		t.Fatalf("outsider get: %v", c)
	}
	anon := demo.NewClient(http.DefaultClient, w.url)
	if c := code(get(ctx, anon, "n1")); c != connect.CodeUnauthenticated {
		t.Fatalf("anonymous get: %v", c)
	}
	if _, err := anon.Ping.CallUnary(ctx, connect.NewRequest(&emptypb.Empty{})); err != nil {
		t.Fatalf("public ping: %v", err)
	}
	forged := demo.NewClient(http.DefaultClient, w.url, connect.WithInterceptors(iamsdk.NewClientInterceptor(staticToken("a.b.c"))))
	if c := code(get(ctx, forged, "n1")); c != connect.CodeUnauthenticated {
		t.Fatalf("garbage token: %v", c)
	}

	// Revoking the writer's binding takes effect once the interceptor's
	// cache bound has passed.
	if _, err := w.iam.Policy.DeleteBinding(ctx, iamtest.Authed(w.iam.Admin, &iamv1.DeleteBindingRequest{Id: w.bindings["writer"].GetId()})); err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(6 * time.Second)
	if c := code(put(writer, "n1=again")); c != connect.CodePermissionDenied {
		t.Fatalf("revoked writer put: %v", c)
	}
}

func TestInterceptorFollowsKeyRotation(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	if err := get(ctx, w.client("reader"), "missing"); code(err) != connect.CodeNotFound {
		t.Fatalf("before rotation: %v", err)
	}
	if _, err := w.iam.Auth.RotateSigningKey(ctx, iamtest.Authed(w.iam.Admin, &iamv1.RotateSigningKeyRequest{})); err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(2 * time.Second) // past MinRefetch
	// A fresh client gets a token signed with the new key, which the
	// service has never seen: it must refetch the JWKS and accept it.
	if err := get(ctx, w.client("reader"), "missing"); code(err) != connect.CodeNotFound {
		t.Fatalf("after rotation: %v", err)
	}
}

func TestInterceptorFailsClosedWhenIAMIsDown(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	reader := w.client("reader")
	if err := get(ctx, reader, "x"); code(err) != connect.CodeNotFound {
		t.Fatalf("warm-up: %v", err)
	}
	w.link.down.Store(true)
	// Within the bound, the cached allow still serves...
	w.clk.Advance(3 * time.Second)
	if err := get(ctx, reader, "x"); code(err) != connect.CodeNotFound {
		t.Fatalf("within cache bound: %v", err)
	}
	// ...but a call never decided before cannot be, and past the bound
	// nothing is allowed.
	if c := code(get(ctx, w.client("writer"), "x")); c != connect.CodeUnavailable {
		t.Fatalf("uncached while down: %v", c)
	}
	w.clk.Advance(3 * time.Second)
	if c := code(get(ctx, reader, "x")); c != connect.CodeUnavailable {
		t.Fatalf("past cache bound while down: %v", c)
	}
	w.link.down.Store(false)
	if err := get(ctx, reader, "x"); code(err) != connect.CodeNotFound {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestNoConfusedDeputy(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	frontend := w.client("frontend") // may read notes itself
	if err := put(w.client("writer"), "n1=secret"); err != nil {
		t.Fatal(err)
	}
	if err := get(ctx, frontend, "n1"); err != nil {
		t.Fatalf("frontend on its own behalf: %v", err)
	}
	// Acting for the outsider, the frontend's own rights do not count.
	outsider, err := w.keys.Verify(ctx, w.iam.Token(w.secrets["outsider"][0], w.secrets["outsider"][1]))
	if err != nil {
		t.Fatal(err)
	}
	if c := code(get(iamsdk.WithSubject(ctx, outsider), frontend, "n1")); c != connect.CodePermissionDenied {
		t.Fatalf("frontend acting for outsider: %v", c)
	}
	reader, err := w.keys.Verify(ctx, w.iam.Token(w.secrets["reader"][0], w.secrets["reader"][1]))
	if err != nil {
		t.Fatal(err)
	}
	if err := get(iamsdk.WithSubject(ctx, reader), frontend, "n1"); err != nil {
		t.Fatalf("frontend acting for reader: %v", err)
	}
	// A forged originating token is refused outright.
	fc := demo.NewClient(http.DefaultClient, w.url, connect.WithInterceptors(
		iamsdk.NewClientInterceptor(staticToken(w.iam.Token(w.secrets["frontend"][0], w.secrets["frontend"][1])))))
	req := connect.NewRequest(wrapperspb.String("n1"))
	req.Header().Set(iamsdk.OriginatingTokenHeader, "forged.token.value")
	if _, err := fc.Get.CallUnary(ctx, req); code(err) != connect.CodeUnauthenticated {
		t.Fatalf("forged originating token: %v", err)
	}
}

// TestSourceAddressReachesConditions: the caller's address travels from
// the protected service to IAM, where conditions can test it.
func TestSourceAddressReachesConditions(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	for name, cidr := range map[string]string{"loopback-only": "127.0.0.0/8", "office-only": "10.0.0.0/8"} {
		m, id, secret := w.iam.ServiceAccount(name)
		w.members[name], w.secrets[name] = m, [2]string{id, secret}
		_, err := w.iam.Policy.CreateBinding(ctx, iamtest.Authed(w.iam.Admin, &iamv1.CreateBindingRequest{Binding: &iamv1.Binding{
			Resource: project, Role: "roles/demo.reader", Members: []string{m},
			Condition: &iamv1.Condition{Expression: `ip_in_cidr(request.source_ip, "` + cidr + `")`}}}))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := get(ctx, w.client("loopback-only"), "x"); code(err) != connect.CodeNotFound {
		t.Fatalf("loopback caller with a loopback condition: %v", err)
	}
	if c := code(get(ctx, w.client("office-only"), "x")); c != connect.CodePermissionDenied {
		t.Fatalf("loopback caller with an office condition: %v", c)
	}
}
