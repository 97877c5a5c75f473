// Package app assembles a Chainfire member from its flags: the etcd-style
// configuration, the RPC server and (as they arrive) the Raft node, the MVCC
// store and the etcd API handlers.
package app

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/photoncloud/core/pkg/cli"
)

// Config is a member's configuration. Flag names follow etcd's, so Chainfire
// drops in where etcd runs.
type Config struct {
	Name                string
	DataDir             string
	ListenClientURLs    string
	AdvertiseClientURLs string
	ListenPeerURLs      string
	InitialAdvertise    string
	InitialCluster      string
	InitialClusterState string
	InitialClusterToken string
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
}

// Command returns the chainfire root command.
func Command(version, revision string) *cobra.Command {
	var cfg Config
	return cli.NewCommand(cli.Spec{
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
}

func run(ctx context.Context, rt *cli.Runtime, cfg Config) error {
	addr, err := HostPort(cfg.ListenClientURLs)
	if err != nil {
		return fmt.Errorf("--listen-client-urls: %w", err)
	}
	return rt.Serve(ctx, addr, cfg.Name, nil)
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
