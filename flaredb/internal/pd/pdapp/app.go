// Package pdapp assembles the flaredb-pd binary from its flags: a
// Chainfire backend, the PD cluster state loaded from it, and the RPC
// server. The server starts answering health checks at once; it reports
// ready (and serves PD calls) once Chainfire answered and the state is
// loaded, which it retries until then.
package pdapp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/photoncloud/core/flaredb/internal/pd"
	"github.com/photoncloud/core/pkg/cli"
	"github.com/photoncloud/core/pkg/server"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// Config is the placement driver's configuration.
type Config struct {
	Name               string
	ListenAddr         string
	ChainfireEndpoints string
	ChainfireTimeout   time.Duration
	Prefix             string
	MaxReplicas        int
	MaxStoreDownTime   time.Duration
	MaxPeerDownTime    time.Duration
}

func (c *Config) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.Name, "name", "flaredb-pd", "name of this placement driver")
	fs.StringVar(&c.ListenAddr, "listen-addr", "127.0.0.1:2479", "host:port for PD RPC traffic")
	fs.StringVar(&c.ChainfireEndpoints, "chainfire-endpoints", "127.0.0.1:2379", "comma-separated Chainfire client endpoints (host:port) holding PD's state")
	fs.DurationVar(&c.ChainfireTimeout, "chainfire-timeout", 5*time.Second, "timeout of one Chainfire call")
	fs.StringVar(&c.Prefix, "chainfire-prefix", pd.DefaultPrefix, "key prefix of PD's state in Chainfire")
	fs.IntVar(&c.MaxReplicas, "max-replicas", pd.DefaultMaxReplicas, "number of replicas every region should have")
	fs.DurationVar(&c.MaxStoreDownTime, "max-store-down-time", pd.DefaultMaxStoreDownTime, "how long a store may miss heartbeats before its replicas are rebuilt elsewhere")
	fs.DurationVar(&c.MaxPeerDownTime, "max-peer-down-time", pd.DefaultMaxPeerDownTime, "how long a region's leader may fail to reach a peer whose store is up before the peer is replaced (e.g. a store that missed a split)")
}

func (c *Config) validate() error {
	if c.MaxReplicas < 1 {
		return fmt.Errorf("--max-replicas must be at least 1, not %d", c.MaxReplicas)
	}
	if c.MaxStoreDownTime <= 0 || c.MaxPeerDownTime <= 0 || c.ChainfireTimeout <= 0 {
		return errors.New("--max-store-down-time, --max-peer-down-time and --chainfire-timeout must be positive")
	}
	if !strings.HasPrefix(c.Prefix, "/") {
		return fmt.Errorf("--chainfire-prefix must start with /, not %q", c.Prefix)
	}
	return nil
}

// Command returns the flaredb-pd root command.
func Command(version, revision string) *cobra.Command {
	var cfg Config
	return cli.NewCommand(cli.Spec{
		Name:       "flaredb-pd",
		EnvPrefix:  "FLAREDB_PD",
		Short:      "FlareDB placement driver: cluster metadata, id allocation, routing table and replica placement",
		Version:    version,
		Revision:   revision,
		HealthAddr: "127.0.0.1:2479",
		Flags:      cfg.register,
		Run: func(ctx context.Context, rt *cli.Runtime) error {
			if err := cfg.validate(); err != nil {
				return err
			}
			return Run(ctx, rt, cfg)
		},
	})
}

// Run serves PD until ctx ends.
func Run(ctx context.Context, rt *cli.Runtime, cfg Config) error {
	backend, err := pd.NewChainfireBackend(strings.Split(cfg.ChainfireEndpoints, ","), cfg.ChainfireTimeout)
	if err != nil {
		return err
	}
	srv, err := server.New(rt.ServerConfig(cfg.ListenAddr, cfg.Name), rt.Telemetry)
	if err != nil {
		return err
	}
	svc := pd.NewService(nil)
	var loaded atomic.Pointer[pd.Cluster]
	srv.SetReadiness(func(ctx context.Context) error {
		c := loaded.Load()
		if c == nil {
			return errors.New("state not loaded from chainfire yet")
		}
		return c.Ready(ctx)
	})
	srv.Mount(flaredbv1connect.NewPDServiceHandler(svc, srv.HandlerOptions()...))
	go func() {
		c, err := openWithRetry(ctx, rt, pd.Config{
			Backend:          backend,
			Prefix:           cfg.Prefix,
			MaxReplicas:      cfg.MaxReplicas,
			MaxStoreDownTime: cfg.MaxStoreDownTime,
			MaxPeerDownTime:  cfg.MaxPeerDownTime,
			Logger:           srv.Logger(),
			Registerer:       rt.Telemetry.Registry,
		})
		if err != nil {
			return // ctx ended
		}
		svc.SetCluster(c)
		loaded.Store(c)
	}()
	return srv.Serve(ctx)
}

// openWithRetry loads PD's state, retrying with backoff while Chainfire is
// unreachable.
func openWithRetry(ctx context.Context, rt *cli.Runtime, cfg pd.Config) (*pd.Cluster, error) {
	wait := 200 * time.Millisecond
	for {
		c, err := pd.Open(ctx, cfg)
		if err == nil {
			return c, nil
		}
		rt.Logger.Warn("cannot load state from chainfire; retrying", "error", err.Error(), "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}
