// Package app assembles the IAM service from its flags: the identity store,
// the signing keyring, the authentication flows, the Connect services and
// the OAuth2/OIDC HTTP endpoints, all on the shared server bootstrap.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/metric"

	"github.com/photoncloud/core/iam/internal/api"
	"github.com/photoncloud/core/iam/internal/audit"
	"github.com/photoncloud/core/iam/internal/auth"
	"github.com/photoncloud/core/iam/internal/authz"
	"github.com/photoncloud/core/iam/internal/oauth"
	"github.com/photoncloud/core/iam/internal/password"
	"github.com/photoncloud/core/iam/internal/store"
	"github.com/photoncloud/core/iam/internal/token"
	"github.com/photoncloud/core/pkg/cli"
	"github.com/photoncloud/core/pkg/server"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// Config is the IAM service's configuration.
type Config struct {
	DataDir                string
	ListenAddr             string
	Issuer                 string
	Audience               string
	AccessTokenTTL         time.Duration
	SessionTTL             time.Duration
	BootstrapAdminName     string
	BootstrapAdminPassword string
	AuthzCacheTTL          time.Duration
	AuditAllows            string
	AuditCheckpointEvery   time.Duration
}

func (c *Config) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "data/iam", "directory holding the identity, policy and audit store")
	fs.StringVar(&c.ListenAddr, "listen-addr", "127.0.0.1:8090", "host:port for RPC and OAuth2/OIDC HTTP traffic")
	fs.StringVar(&c.Issuer, "issuer", "http://127.0.0.1:8090", "issuer URL: the iss of tokens and the base of the OAuth2/OIDC endpoints")
	fs.StringVar(&c.Audience, "token-audience", "photoncloud", "aud of the access tokens IAM issues")
	fs.DurationVar(&c.AccessTokenTTL, "access-token-ttl", 10*time.Minute, "access token lifetime (at most 1h)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 30*24*time.Hour, "how long a login's refresh tokens keep working")
	fs.StringVar(&c.BootstrapAdminName, "bootstrap-admin-name", "admin", "name of the administrator created on first start")
	fs.StringVar(&c.BootstrapAdminPassword, "bootstrap-admin-password", "",
		"password of the administrator created on first start; generated and logged once when empty")
	fs.DurationVar(&c.AuthzCacheTTL, "authz-cache-ttl", authz.DefaultCacheTTL,
		"staleness bound of cached authorization decisions for requests without a consistency token (negative disables the cache)")
	fs.StringVar(&c.AuditAllows, "audit-allow-decisions", "sampled", "which allow decisions the audit log keeps: none, sampled (1 in 100) or all; denies are always kept")
	fs.DurationVar(&c.AuditCheckpointEvery, "audit-checkpoint-interval", time.Minute, "how often the audit chain head is signed")
}

func (c *Config) auditLevel() (audit.AllowLevel, error) {
	switch c.AuditAllows {
	case "none":
		return audit.AllowNone, nil
	case "sampled":
		return audit.AllowSampled, nil
	case "all":
		return audit.AllowAll, nil
	}
	return 0, fmt.Errorf("iam: --audit-allow-decisions must be none, sampled or all, got %q", c.AuditAllows)
}

func (c *Config) validate() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("iam: --issuer must be an http(s) URL without query or fragment, got %q", c.Issuer)
	}
	if c.Audience == "" {
		return errors.New("iam: --token-audience must not be empty")
	}
	if c.AccessTokenTTL <= 0 || c.AccessTokenTTL > token.DefaultMaxTokenTTL {
		return fmt.Errorf("iam: --access-token-ttl must be in (0, %v]", token.DefaultMaxTokenTTL)
	}
	if c.SessionTTL <= 0 {
		return errors.New("iam: --session-ttl must be positive")
	}
	if c.AuditCheckpointEvery <= 0 {
		return errors.New("iam: --audit-checkpoint-interval must be positive")
	}
	_, err = c.auditLevel()
	return err
}

// options are what tests may change beyond the flags.
type options struct {
	hasher password.Options
}

// Command returns the iam root command.
func Command(version, revision string) *cobra.Command {
	return command(version, revision, options{})
}

func command(version, revision string, opts options) *cobra.Command {
	var cfg Config
	return cli.NewCommand(cli.Spec{
		Name:       "iam",
		Short:      "PhotonCloud IAM: identities, tokens, authorization and audit",
		Version:    version,
		Revision:   revision,
		HealthAddr: "127.0.0.1:8090",
		Flags:      cfg.register,
		Run: func(ctx context.Context, rt *cli.Runtime) error {
			return run(ctx, rt, cfg, opts)
		},
	})
}

func run(ctx context.Context, rt *cli.Runtime, cfg Config, opts options) (err error) {
	if err := cfg.validate(); err != nil {
		return err
	}
	log := rt.Logger.With("service", "iam")
	st, err := store.OpenBolt(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	level, _ := cfg.auditLevel()
	auditLog, err := audit.Open(ctx, st, audit.Config{Allow: level, Meter: rt.Telemetry.MeterProvider})
	if err != nil {
		return err
	}
	// Before any write: every administrative change from here on commits
	// with its audit record.
	st.SetIdentityHook(auditLog.IdentityHook())
	st.SetPolicyHook(auditLog.PolicyHook())
	keys, err := loadKeyring(ctx, st)
	if err != nil {
		return err
	}
	hasher, err := password.New(opts.hasher)
	if err != nil {
		return fmt.Errorf("iam: password hasher: %w", err)
	}
	svc, err := auth.New(auth.Config{
		Issuer: cfg.Issuer, Audience: cfg.Audience, AccessTokenTTL: cfg.AccessTokenTTL, SessionTTL: cfg.SessionTTL,
		Meter: rt.Telemetry.MeterProvider, Audit: auditLog,
	}, st, hasher, keys, log)
	if err != nil {
		return err
	}
	if err := bootstrap(ctx, st, hasher, cfg, log); err != nil {
		return err
	}
	az, err := startAuthz(ctx, st, cfg, rt.Telemetry.MeterProvider, log)
	if err != nil {
		return err
	}
	az.SetRecorder(auditLog)
	// The maintenance loop must finish before the store closes (deferred
	// above, so it runs after this).
	maintCtx, stopMaint := context.WithCancel(ctx)
	maintDone := make(chan struct{})
	defer func() { stopMaint(); <-maintDone }()
	auditDone := make(chan struct{})
	defer func() { stopMaint(); <-auditDone }()
	go func() { defer close(maintDone); svc.Maintain(maintCtx, maintenanceInterval) }()
	go func() {
		defer close(auditDone)
		// Stopped after serving ends, so no decision arrives after the
		// writer has drained its queue.
		go auditLog.RunDecisionWriter(maintCtx)
		auditLog.RunCheckpoints(maintCtx, cfg.AuditCheckpointEvery)
	}()

	return rt.Serve(ctx, cfg.ListenAddr, "", func(srv *server.Server) error {
		srv.Mount(iamv1connect.NewIdentityServiceHandler(api.NewIdentity(svc, st, log), srv.HandlerOptions()...))
		srv.Mount(iamv1connect.NewAuthServiceHandler(api.NewAuth(svc, st, log), srv.HandlerOptions()...))
		authzAPI := api.NewAuthz(svc, az, log)
		// The shared server runs AuthzService's unary calls on its worker
		// pool (long-lived goroutines with grown stacks).
		srv.Mount(iamv1connect.NewAuthzServiceHandler(authzAPI, srv.HandlerOptions()...))
		srv.Mount(iamv1connect.NewPolicyServiceHandler(api.NewPolicy(authzAPI), srv.HandlerOptions()...))
		srv.Mount(iamv1connect.NewAuditServiceHandler(api.NewAudit(svc, az, auditLog, log), srv.HandlerOptions()...))
		oauth.New(svc, log).Register(srv.HandleHTTP)
		// Keys are loaded before serving starts, so readiness only has to
		// follow the store.
		srv.SetReadiness(func(ctx context.Context) error {
			if err := st.Ping(ctx); err != nil {
				return fmt.Errorf("store not available: %w", err)
			}
			if keys.ActiveKeyID() == "" {
				return errors.New("no signing key loaded")
			}
			return nil
		})
		return nil
	})
}

// loadKeyring loads the persisted signing keys, creating them on first
// start in the same store transaction that records them.
func loadKeyring(ctx context.Context, st store.Store) (*token.Keyring, error) {
	data, err := st.LoadOrCreateKeyring(ctx, func() ([]byte, error) {
		kr, err := token.NewKeyring(time.Now(), token.KeyringOptions{})
		if err != nil {
			return nil, err
		}
		return kr.Marshal()
	})
	if err != nil {
		return nil, fmt.Errorf("iam: loading signing keys: %w", err)
	}
	keys, err := token.Unmarshal(data, token.KeyringOptions{})
	if err != nil {
		return nil, fmt.Errorf("iam: decoding signing keys: %w", err)
	}
	return keys, nil
}

// bootstrap creates the first administrator when the store is new.
func bootstrap(ctx context.Context, st store.Store, hasher *password.Hasher, cfg Config, log *slog.Logger) error {
	pw, generated := cfg.BootstrapAdminPassword, false
	if pw == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("iam: generating bootstrap password: %w", err)
		}
		pw, generated = base64.RawURLEncoding.EncodeToString(b), true
	} else if err := password.CheckPolicy(pw); err != nil {
		return fmt.Errorf("iam: --bootstrap-admin-password: %w", err)
	}
	hash, err := hasher.Hash(pw)
	if err != nil {
		return fmt.Errorf("iam: hashing bootstrap password: %w", err)
	}
	now := time.Now().UTC()
	admin := &store.User{ID: "usr_bootstrapadmin", Name: cfg.BootstrapAdminName, DisplayName: "Administrator",
		PasswordHash: hash, PasswordChangedAt: now}
	admins := &store.Group{ID: "grp_admins", Name: auth.AdminGroup, DisplayName: "Administrators",
		Description: "Members may administer identities."}
	done, err := st.Bootstrap(ctx, admin, admins, now)
	if err != nil {
		return fmt.Errorf("iam: bootstrap: %w", err)
	}
	if !done {
		return nil
	}
	if generated {
		// The one deliberate exception to "no secrets in logs": with no
		// password given, the operator has no other way to learn it. It is
		// printed once, on first start only; change it after logging in.
		log.Warn("bootstrap administrator created with a generated password; change it now",
			"user", admin.Name, "password", pw)
	} else {
		log.Info("bootstrap administrator created", "user", admin.Name)
	}
	return nil
}

// startAuthz loads the policy engine and, on a store that never had any
// policy, grants roles/owner on root to the administrators group.
func startAuthz(ctx context.Context, st *store.Bolt, cfg Config, mp metric.MeterProvider, log *slog.Logger) (*authz.Authorizer, error) {
	az, err := authz.New(ctx, authz.Config{CacheTTL: cfg.AuthzCacheTTL, Meter: mp}, st, st)
	if err != nil {
		return nil, fmt.Errorf("iam: authorization: %w", err)
	}
	admins, err := st.GetGroupByName(ctx, auth.AdminGroup)
	if errors.Is(err, store.ErrNotFound) {
		return az, nil
	}
	if err != nil {
		return nil, fmt.Errorf("iam: authorization bootstrap: %w", err)
	}
	done, err := az.Bootstrap(ctx, admins.ID)
	if err != nil {
		return nil, err
	}
	if done {
		log.Info("granted roles/owner on root to the administrators group", "group", admins.ID)
	}
	return az, nil
}

// maintenanceInterval is how often keys and expired sessions are looked at.
const maintenanceInterval = time.Minute
