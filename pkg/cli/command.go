package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/photoncloud/core/pkg/server"
	"github.com/photoncloud/core/pkg/telemetry"
)

// Spec describes a server binary.
type Spec struct {
	// Name is the binary and service name, e.g. "chainfire".
	Name string
	// Short is a one-line description for --help.
	Short string
	// EnvPrefix prefixes environment variables; defaults to Name in capitals.
	EnvPrefix string
	// Version and Revision describe the build.
	Version  string
	Revision string
	// HealthAddr is the default address the healthcheck subcommand probes.
	HealthAddr string
	// Flags registers the service's own flags.
	Flags func(fs *pflag.FlagSet)
	// Run runs the service until ctx is cancelled.
	Run func(ctx context.Context, rt *Runtime) error
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
}

// Runtime is what a service's Run receives: parsed common settings and the
// process's telemetry.
type Runtime struct {
	Spec      Spec
	Common    CommonFlags
	Telemetry *telemetry.Telemetry
	Logger    *slog.Logger
}

// CommonFlags are the settings every server shares.
type CommonFlags struct {
	LogLevel        string
	MaxRequestBytes int
	ShutdownTimeout time.Duration
	EnablePprof     bool
}

func (c *CommonFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", server.DefaultMaxRequestBytes,
		"largest request message accepted, in bytes")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout,
		"how long in-flight calls may take to finish on SIGTERM")
	fs.BoolVar(&c.EnablePprof, "enable-pprof", false, "serve runtime profiles under /debug/pprof/ on the client port")
}

// ServerConfig fills the common parts of a server.Config.
func (rt *Runtime) ServerConfig(listenAddr, nodeName string) server.Config {
	return server.Config{
		Service:         rt.Spec.Name,
		Version:         rt.Spec.Version,
		Revision:        rt.Spec.Revision,
		NodeName:        nodeName,
		ListenAddr:      listenAddr,
		MaxRequestBytes: rt.Common.MaxRequestBytes,
		ShutdownTimeout: rt.Common.ShutdownTimeout,
		EnablePprof:     rt.Common.EnablePprof,
	}
}

// Serve runs this service's server on listenAddr until ctx is cancelled.
// mount registers the service's handlers on it before it starts serving.
func (rt *Runtime) Serve(ctx context.Context, listenAddr, nodeName string, mount func(*server.Server) error) error {
	srv, err := server.New(rt.ServerConfig(listenAddr, nodeName), rt.Telemetry)
	if err != nil {
		return err
	}
	if mount != nil {
		if err := mount(srv); err != nil {
			return err
		}
	}
	return srv.Serve(ctx)
}

// NewCommand builds the root command of a server binary.
func NewCommand(spec Spec) *cobra.Command {
	if spec.EnvPrefix == "" {
		spec.EnvPrefix = envPrefix(spec.Name)
	}
	if spec.Getenv == nil {
		spec.Getenv = os.Getenv
	}
	var common CommonFlags
	cmd := &cobra.Command{
		Use:           spec.Name,
		Short:         spec.Short,
		Version:       fmt.Sprintf("%s (revision %s)", spec.Version, spec.Revision),
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), spec.EnvPrefix, spec.Getenv); err != nil {
				return err
			}
			return run(cmd.Context(), spec, common)
		},
	}
	cmd.CompletionOptions.DisableDefaultCmd = true
	common.register(cmd.Flags())
	if spec.Flags != nil {
		spec.Flags(cmd.Flags())
	}
	annotateEnv(cmd.Flags(), spec.EnvPrefix)
	cmd.AddCommand(healthcheckCommand(spec))
	return cmd
}

func run(ctx context.Context, spec Spec, common CommonFlags) error {
	level, err := telemetry.ParseLevel(common.LogLevel)
	if err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, telemetry.Config{
		ServiceName: spec.Name,
		Version:     spec.Version,
		Revision:    spec.Revision,
		LogLevel:    level,
		Getenv:      spec.Getenv,
	})
	if err != nil {
		return err
	}
	runErr := spec.Run(ctx, &Runtime{Spec: spec, Common: common, Telemetry: tel, Logger: tel.Logger})
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(flushCtx); err != nil {
		tel.Logger.Warn("telemetry flush failed", "error", err.Error())
	}
	return runErr
}

// Main runs cmd until SIGINT or SIGTERM and exits with its status. It is the
// whole body of a server's main function.
func Main(cmd *cobra.Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cmd.ExecuteContext(ctx)
	stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cmd.Name(), err)
		os.Exit(1)
	}
}

func envPrefix(name string) string {
	out := make([]rune, 0, len(name))
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z':
			out = append(out, r-'a'+'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			out = append(out, r)
		default:
			out = append(out, '_')
		}
	}
	return string(out)
}
