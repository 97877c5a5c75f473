// Package app assembles a FlareDB store from its flags: the Pebble engine
// and region replicas (package store), the store's identity and cluster
// bootstrap with PD, and the RPC server with the KV and admin services.
package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/photoncloud/core/flaredb/internal/kvservice"
	"github.com/photoncloud/core/flaredb/internal/store"
	"github.com/photoncloud/core/pkg/cli"
	"github.com/photoncloud/core/pkg/server"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// Config is a store's configuration.
type Config struct {
	Name          string
	DataDir       string
	ListenAddr    string
	AdvertiseAddr string
	RaftAddr      string
	RaftAdvertise string
	PDEndpoints   string
	StoreID       uint64

	SplitSize               uint64
	SplitKeys               uint64
	SplitCheckInterval      time.Duration
	HeartbeatInterval       time.Duration
	RegionHeartbeatInterval time.Duration
	ElectionTimeout         time.Duration
	PeerGCAfter             time.Duration
	LeaseRead               bool
}

func (c *Config) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.Name, "name", "flaredb-1", "name of this store")
	fs.StringVar(&c.DataDir, "data-dir", "data/flaredb", "directory holding the regions' Raft logs and the engine")
	fs.StringVar(&c.ListenAddr, "listen-addr", "127.0.0.1:20160", "host:port for client RPC traffic")
	fs.StringVar(&c.AdvertiseAddr, "advertise-addr", "", "host:port clients and other stores use to reach this store (default: --listen-addr)")
	fs.StringVar(&c.RaftAddr, "raft-addr", "127.0.0.1:20170", "host:port carrying every region's Raft traffic")
	fs.StringVar(&c.RaftAdvertise, "raft-advertise-addr", "", "host:port other stores dial for Raft (default: --raft-addr)")
	fs.StringVar(&c.PDEndpoints, "pd-endpoints", "", "comma-separated PD addresses (host:port); empty runs a standalone store with one region and no splits")
	fs.Uint64Var(&c.StoreID, "store-id", 0, "this store's id (0: the id saved in --data-dir, else one allocated by PD)")
	fs.Uint64Var(&c.SplitSize, "region-split-size", store.DefaultSplitSize, "split a region once its keys and values reach this many bytes")
	fs.Uint64Var(&c.SplitKeys, "region-split-keys", store.DefaultSplitKeys, "split a region once it holds this many keys")
	fs.DurationVar(&c.SplitCheckInterval, "split-check-interval", 10*time.Second, "how often region leaders check their size")
	fs.DurationVar(&c.HeartbeatInterval, "store-heartbeat-interval", 10*time.Second, "period of store heartbeats to PD")
	fs.DurationVar(&c.RegionHeartbeatInterval, "region-heartbeat-interval", 10*time.Second, "period of region heartbeats to PD (and of carrying out PD's replica changes)")
	fs.DurationVar(&c.ElectionTimeout, "election-timeout", time.Second, "Raft heartbeat and election timeout of every region")
	fs.DurationVar(&c.PeerGCAfter, "peer-gc-after", time.Minute, "how long a replica may hear no leader before the store asks PD whether it was removed from its region (and destroys it if so)")
	fs.BoolVar(&c.LeaseRead, "lease-read", true, "serve linearizable reads from a region leader's lease (no heartbeat round per read) while it holds one; every store needs the same --election-timeout")
}

func (c *Config) validate() error {
	if c.SplitSize == 0 || c.SplitKeys == 0 {
		return errors.New("--region-split-size and --region-split-keys must be positive")
	}
	if c.SplitCheckInterval <= 0 || c.HeartbeatInterval <= 0 || c.RegionHeartbeatInterval <= 0 || c.ElectionTimeout <= 0 || c.PeerGCAfter <= 0 {
		return errors.New("intervals, --election-timeout and --peer-gc-after must be positive")
	}
	return nil
}

// Command returns the flaredb root command.
func Command(version, revision string) *cobra.Command {
	var cfg Config
	return cli.NewCommand(cli.Spec{
		Name:       "flaredb",
		Short:      "FlareDB store: hosts replicas of the key-space regions",
		Version:    version,
		Revision:   revision,
		HealthAddr: "127.0.0.1:20160",
		Flags:      cfg.register,
		Run: func(ctx context.Context, rt *cli.Runtime) error {
			if err := cfg.validate(); err != nil {
				return err
			}
			return Run(ctx, rt, cfg)
		},
	})
}

// Run serves the store until ctx ends.
func Run(ctx context.Context, rt *cli.Runtime, cfg Config) error {
	if cfg.AdvertiseAddr == "" {
		cfg.AdvertiseAddr = cfg.ListenAddr
	}
	var pd store.PDClient
	if cfg.PDEndpoints != "" {
		pd = newPDClient(strings.Split(cfg.PDEndpoints, ","))
	}
	id, err := storeID(ctx, cfg, pd)
	if err != nil {
		return err
	}
	st, err := store.Open(store.Config{
		StoreID: id, DataDir: cfg.DataDir,
		RaftAddr: cfg.RaftAddr, RaftAdvertise: cfg.RaftAdvertise, ClientAddr: cfg.AdvertiseAddr,
		SplitSize: cfg.SplitSize, SplitKeys: cfg.SplitKeys, SplitCheckInterval: cfg.SplitCheckInterval,
		HeartbeatInterval: cfg.HeartbeatInterval, RegionHeartbeatInterval: cfg.RegionHeartbeatInterval,
		ElectionTimeout: cfg.ElectionTimeout, PeerGCAfter: cfg.PeerGCAfter, DisableLeaseRead: !cfg.LeaseRead,
		Logger: rt.Logger, CreatePeer: createPeer,
	}, pd)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if err := joinCluster(ctx, st, pd); err != nil {
		return err
	}
	st.Run()
	if rt.Telemetry != nil {
		if err := registerMetrics(rt.Telemetry.Registry, st); err != nil {
			return err
		}
	}
	srv, err := server.New(rt.ServerConfig(cfg.ListenAddr, cfg.Name), rt.Telemetry)
	if err != nil {
		return err
	}
	srv.Mount(flaredbv1connect.NewKVServiceHandler(kvservice.NewKV(st), srv.HandlerOptions()...))
	srv.Mount(flaredbv1connect.NewAdminServiceHandler(kvservice.NewAdmin(st), srv.HandlerOptions()...))
	srv.Logger().Info("store started", "store_id", id, "raft_addr", st.RaftAddr(), "pd", cfg.PDEndpoints)
	return srv.Serve(ctx)
}

// httpClient is shared by the PD and store-to-store clients.
var httpClient = &http.Client{Timeout: 30 * time.Second}

func baseURL(addr string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	return "http://" + addr
}
