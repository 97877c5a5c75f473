// Package cli builds the command lines of PhotonCloud's server binaries, so
// that every service is started, configured and health-checked the same way.
//
// NewCommand returns a cobra root command with the flags every service shares
// (log level, request size limit, shutdown timeout) plus the service's own.
// Every flag can also be set from the environment: --listen-client-urls is
// read from PREFIX_LISTEN_CLIENT_URLS when the flag is not given, where PREFIX
// is the service's name in capitals (CHAINFIRE, FLAREDB, IAM). A flag given
// on the command line wins over the environment. Help text names the variable.
//
// The command also has a "healthcheck" subcommand that exits 0 only when the
// local /readyz answers 200: images built FROM scratch have no shell or curl
// for a container health check, so the binary checks itself.
package cli
