// Command demo-notes runs the demo notes service behind IAM: every call is
// authenticated against IAM's JWKS and authorized by IAM through the
// iamsdk server interceptor. It calls IAM as a service account that must
// hold roles/iam.authorizer.
//
//	demo-notes --iam http://127.0.0.1:8090 --client-id sa_x --client-secret-file secret.txt \
//	  --project orgs/acme/projects/demo --listen 127.0.0.1:8095
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/iam/examples/demo"
	"github.com/photoncloud/core/iam/iamsdk"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

func main() {
	iamURL := flag.String("iam", "http://127.0.0.1:8090", "IAM base URL (its issuer)")
	audience := flag.String("audience", "photoncloud", "expected aud of access tokens")
	clientID := flag.String("client-id", "", "this service's service account id")
	secretFile := flag.String("client-secret-file", "", "file holding the service account's client secret")
	project := flag.String("project", "orgs/acme/projects/demo", "project resource the notes belong to")
	listen := flag.String("listen", "127.0.0.1:8095", "host:port to serve on")
	cacheTTL := flag.Duration("cache-ttl", 5*time.Second, "how long allow decisions are reused (and IAM may be unreachable)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *iamURL, *audience, *clientID, *secretFile, *project, *listen, *cacheTTL); err != nil {
		fmt.Fprintln(os.Stderr, "demo-notes:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, iamURL, audience, clientID, secretFile, project, listen string, ttl time.Duration) error {
	if clientID == "" || secretFile == "" {
		return errors.New("--client-id and --client-secret-file are required")
	}
	raw, err := os.ReadFile(secretFile)
	if err != nil {
		return fmt.Errorf("reading the client secret: %w", err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	ts := iamsdk.ClientCredentialsSource(ctx, hc, iamURL, clientID, strings.TrimSpace(string(raw)))
	// Decisions go over pooled HTTP/1.1 connections: for small unary calls
	// that costs IAM and this service about half the CPU of HTTP/2.
	ahc, err := iamsdk.NewHTTP1Client(iamURL, iamsdk.HTTP1Options{})
	if err != nil {
		return err
	}
	authz := iamv1connect.NewAuthzServiceClient(ahc, iamURL, connect.WithInterceptors(iamsdk.NewClientInterceptor(ts)))
	svc := demo.New(project)
	ic, err := iamsdk.NewServerInterceptor(iamsdk.ServerConfig{
		Keys:    iamsdk.NewKeySet(iamURL, audience, iamsdk.KeySetOptions{HTTPClient: hc}),
		Decider: iamsdk.AuthzClient(authz), Map: svc.Map, CacheTTL: ttl,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	svc.Register(mux, connect.WithInterceptors(ic))
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Addr: listen, Handler: mux, Protocols: &protocols, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	slog.Info("demo notes service listening", "addr", listen, "project", project, "iam", iamURL)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
