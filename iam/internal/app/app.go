// Package app assembles the IAM service from its flags: the RPC server and
// (as they arrive) the identity store, token issuer, policy engine and audit
// log.
package app

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/photoncloud/core/pkg/cli"
)

// Config is the IAM service's configuration.
type Config struct {
	DataDir    string
	ListenAddr string
}

func (c *Config) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "data/iam", "directory holding the identity, policy and audit store")
	fs.StringVar(&c.ListenAddr, "listen-addr", "127.0.0.1:8090", "host:port for RPC and OAuth2/OIDC HTTP traffic")
}

// Command returns the iam root command.
func Command(version, revision string) *cobra.Command {
	var cfg Config
	return cli.NewCommand(cli.Spec{
		Name:       "iam",
		Short:      "PhotonCloud IAM: identities, tokens, authorization and audit",
		Version:    version,
		Revision:   revision,
		HealthAddr: "127.0.0.1:8090",
		Flags:      cfg.register,
		Run: func(ctx context.Context, rt *cli.Runtime) error {
			return rt.Serve(ctx, cfg.ListenAddr, "", nil)
		},
	})
}
