// Package app assembles a Chainfire member from its flags: the etcd-style
// configuration, the RPC server and (as they arrive) the Raft node, the MVCC
// store and the etcd API handlers.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/photoncloud/core/chainfire/internal/etcdapi"
	"github.com/photoncloud/core/chainfire/internal/member"
	"github.com/photoncloud/core/chainfire/internal/snapshot"
	"github.com/photoncloud/core/pkg/cli"
	"github.com/photoncloud/core/pkg/server"
)

// Config is a member's configuration. Flag names follow etcd's, so Chainfire
// drops in where etcd runs.
type Config struct {
	Name                 string
	DataDir              string
	ListenClientURLs     string
	AdvertiseClientURLs  string
	ListenPeerURLs       string
	InitialAdvertise     string
	InitialCluster       string
	InitialClusterState  string
	InitialClusterToken  string
	ElectionTimeoutMs    int
	HeartbeatIntervalMs  int
	SnapshotCount        uint64
	QuotaBackendBytes    int64
	MaxTxnOps            int
	CorruptCheckTime     time.Duration
	WatchProgressNotify  time.Duration
	BackendBatchInterval time.Duration
	BackendBatchLimit    int
	LeaseRead            bool
}

func (c *Config) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.Name, "name", "default", "human-readable name of this member")
	fs.StringVar(&c.DataDir, "data-dir", "default.chainfire", "directory holding the Raft log, snapshots and the key-value store")
	fs.StringVar(&c.ListenClientURLs, "listen-client-urls", "http://127.0.0.1:2379", "URL to listen on for client traffic (gRPC, gRPC-Web and Connect on one port)")
	fs.StringVar(&c.AdvertiseClientURLs, "advertise-client-urls", "http://127.0.0.1:2379", "client URLs of this member as advertised to the cluster")
	fs.StringVar(&c.ListenPeerURLs, "listen-peer-urls", "http://127.0.0.1:2380", "URL to listen on for Raft traffic from peers")
	fs.StringVar(&c.InitialAdvertise, "initial-advertise-peer-urls", "http://127.0.0.1:2380", "peer URLs of this member as advertised to the cluster")
	fs.StringVar(&c.InitialCluster, "initial-cluster", "default=http://127.0.0.1:2380", "initial cluster configuration for bootstrapping: name=peerURL,...")
	fs.StringVar(&c.InitialClusterState, "initial-cluster-state", "new", "new when bootstrapping a cluster, existing when joining one")
	fs.StringVar(&c.InitialClusterToken, "initial-cluster-token", "chainfire-cluster", "token distinguishing this cluster during bootstrap")
	fs.IntVar(&c.ElectionTimeoutMs, "election-timeout", 1000, "time (in milliseconds) a follower waits for the leader before starting an election")
	fs.IntVar(&c.HeartbeatIntervalMs, "heartbeat-interval", 100, "accepted for etcd compatibility; the leader heartbeats at a tenth of --election-timeout")
	fs.Uint64Var(&c.SnapshotCount, "snapshot-count", 10000, "number of committed entries between snapshots of the store")
	fs.Int64Var(&c.QuotaBackendBytes, "quota-backend-bytes", 2<<30, "backend size above which writes fail with 'database space exceeded' (0 disables)")
	fs.IntVar(&c.MaxTxnOps, "max-txn-ops", etcdapi.DefaultMaxTxnOps, "maximum number of operations in each branch of a txn")
	fs.DurationVar(&c.WatchProgressNotify, "watch-progress-notify-interval", 10*time.Minute, "period of progress notifications to watchers that asked for them")
	fs.DurationVar(&c.CorruptCheckTime, "corrupt-check-time", 5*time.Minute, "how often the leader compares every member's HashKV with its own, raising CORRUPT on a mismatch (0 disables)")
	fs.DurationVar(&c.BackendBatchInterval, "backend-batch-interval", 0, "longest time applied entries wait before the store commits them to disk; the Raft log recovers them after a crash (0: 100ms, negative: commit every applied batch)")
	fs.IntVar(&c.BackendBatchLimit, "backend-batch-limit", 0, "number of changes after which the store commits applied entries to disk (0: 10000)")
	fs.BoolVar(&c.LeaseRead, "lease-read", true, "answer linearizable reads on the leader from its leader lease, without a heartbeat round to a quorum; assumes every member runs the same --election-timeout and clocks whose rates differ by less than 20%")
}

// grpcOverheadBytes is the slack etcd gives gRPC messages above
// --max-request-bytes, so an oversized request reaches the server's own
// check and gets etcd's "request is too large" error.
const grpcOverheadBytes = 512 * 1024

// Command returns the chainfire root command.
func Command(version, revision string) *cobra.Command {
	var cfg Config
	cmd := cli.NewCommand(cli.Spec{
		Name:       "chainfire",
		Short:      "Chainfire: strongly consistent coordination service speaking etcd's v3 API",
		Version:    version,
		Revision:   revision,
		HealthAddr: "127.0.0.1:2379",
		Flags:      cfg.register,
		Run: func(ctx context.Context, rt *cli.Runtime) error {
			return run(ctx, rt, cfg)
		},
	})
	cmd.AddCommand(snapshot.Command())
	return cmd
}

func run(ctx context.Context, rt *cli.Runtime, cfg Config) error {
	addr, err := HostPort(cfg.ListenClientURLs)
	if err != nil {
		return fmt.Errorf("--listen-client-urls: %w", err)
	}
	mcfg, err := cfg.memberConfig(rt)
	if err != nil {
		return err
	}
	m, err := member.Start(mcfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := m.Close(); err != nil {
			rt.Logger.Error("close member", "error", err.Error())
		}
	}()
	scfg := rt.ServerConfig(addr, cfg.Name)
	scfg.MaxRequestBytes += grpcOverheadBytes
	srv, err := server.New(scfg, rt.Telemetry)
	if err != nil {
		return err
	}
	srv.SetReadiness(m.Ready)
	etcdapi.Register(srv, m, etcdapi.Options{MaxTxnOps: cfg.MaxTxnOps, QuotaBackendBytes: cfg.QuotaBackendBytes,
		Watch: etcdapi.WatchOptions{ProgressInterval: cfg.WatchProgressNotify, MaxResponseBytes: scfg.MaxRequestBytes,
			ElectionTimeout: time.Duration(cfg.ElectionTimeoutMs) * time.Millisecond}})
	// A removed member stops, as etcd's does: it no longer gets the log.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-m.Removed():
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := srv.Serve(ctx); err != nil {
		return err
	}
	select {
	case <-m.Removed():
		return errMemberRemoved
	default:
		return nil
	}
}

var errMemberRemoved = errors.New("the member has been permanently removed from the cluster")

func (cfg Config) memberConfig(rt *cli.Runtime) (member.Config, error) {
	initial, err := member.ParseInitialCluster(cfg.InitialCluster)
	if err != nil {
		return member.Config{}, fmt.Errorf("--initial-cluster: %w", err)
	}
	peerListen, err := HostPort(cfg.ListenPeerURLs)
	if err != nil {
		return member.Config{}, fmt.Errorf("--listen-peer-urls: %w", err)
	}
	if cfg.InitialClusterState != "new" && cfg.InitialClusterState != "existing" {
		return member.Config{}, fmt.Errorf("--initial-cluster-state must be new or existing, not %q", cfg.InitialClusterState)
	}
	return member.Config{
		Name:                 cfg.Name,
		DataDir:              cfg.DataDir,
		ClientURLs:           splitURLs(cfg.AdvertiseClientURLs),
		PeerURLs:             splitURLs(cfg.InitialAdvertise),
		PeerListen:           peerListen,
		InitialCluster:       initial,
		InitialClusterState:  cfg.InitialClusterState,
		InitialClusterToken:  cfg.InitialClusterToken,
		ElectionTimeout:      time.Duration(cfg.ElectionTimeoutMs) * time.Millisecond,
		SnapshotCount:        cfg.SnapshotCount,
		MaxRequestBytes:      rt.Common.MaxRequestBytes,
		QuotaBackendBytes:    cfg.QuotaBackendBytes,
		CorruptCheckInterval: cfg.CorruptCheckTime,
		BackendBatchInterval: cfg.BackendBatchInterval,
		BackendBatchLimit:    cfg.BackendBatchLimit,
		DisableLeaseRead:     !cfg.LeaseRead,
		Logger:               rt.Logger,
		Registerer:           rt.Telemetry.Registry,
	}, nil
}

func splitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// HostPort extracts host:port from a single http:// URL, as etcd's URL flags
// carry them.
func HostPort(rawURLs string) (string, error) {
	if strings.Contains(rawURLs, ",") {
		return "", fmt.Errorf("%q: only one URL is supported", rawURLs)
	}
	u, err := url.Parse(strings.TrimSpace(rawURLs))
	if err != nil {
		return "", fmt.Errorf("%q: %w", rawURLs, err)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("%q: scheme must be http (TLS is terminated in front of Chainfire)", rawURLs)
	}
	if u.Port() == "" || u.Path != "" && u.Path != "/" {
		return "", fmt.Errorf("%q: want http://host:port", rawURLs)
	}
	return u.Host, nil
}
