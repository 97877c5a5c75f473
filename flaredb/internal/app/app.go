// Package app assembles a FlareDB store from its flags: the RPC server and
// (as they arrive) the region replicas, their Raft groups and the Pebble
// engine they share.
package app

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/photoncloud/core/pkg/cli"
)

// Config is a store's configuration.
type Config struct {
	Name       string
	DataDir    string
	ListenAddr string
}

func (c *Config) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.Name, "name", "flaredb-1", "name of this store")
	fs.StringVar(&c.DataDir, "data-dir", "data/flaredb", "directory holding the regions' Raft logs and the engine")
	fs.StringVar(&c.ListenAddr, "listen-addr", "127.0.0.1:20160", "host:port for client RPC traffic")
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
			return rt.Serve(ctx, cfg.ListenAddr, cfg.Name, nil)
		},
	})
}
