// Package ctl implements flaredbctl, the command-line client of FlareDB:
// key-value commands go through the client package (so they route and
// retry like any application), region, store and cluster commands ask PD,
// and a manual split goes to the region leader's admin service. Output is
// a table for people (-w table) or JSON for scripts (-w json).
package ctl

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/photoncloud/core/flaredb/client"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// app carries the global flags and I/O of one invocation.
type app struct {
	pd      string
	output  string
	hexKeys bool
	timeout time.Duration
	stdout  io.Writer
	http    *http.Client
	kv      *client.Client
}

// Command returns the flaredbctl root command. getenv supplies defaults for
// the global flags (FLAREDBCTL_PD, FLAREDBCTL_WRITE_OUT).
func Command(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	a := &app{stdout: stdout}
	root := &cobra.Command{
		Use:           "flaredbctl",
		Short:         "Command-line client for FlareDB",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if a.output != "table" && a.output != "json" {
				return fmt.Errorf("--write-out must be table or json, got %q", a.output)
			}
			a.http = newH2CClient()
			kv, err := client.New(strings.Split(a.pd, ","), client.WithHTTPClient(a.http))
			if err != nil {
				return err
			}
			a.kv = kv
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	fs := root.PersistentFlags()
	fs.StringVar(&a.pd, "pd", envOr(getenv, "FLAREDBCTL_PD", "127.0.0.1:2479"), "PD endpoints, comma-separated (env FLAREDBCTL_PD)")
	fs.StringVarP(&a.output, "write-out", "w", envOr(getenv, "FLAREDBCTL_WRITE_OUT", "table"), "output format: table or json (env FLAREDBCTL_WRITE_OUT)")
	fs.BoolVar(&a.hexKeys, "hex", false, "keys and values on the command line and in output are hex-encoded")
	fs.DurationVar(&a.timeout, "timeout", 20*time.Second, "deadline of the whole command, retries included")
	root.AddCommand(a.getCmd(), a.putCmd(), a.deleteCmd(), a.scanCmd(), a.casCmd(),
		a.regionCmd(), a.storeCmd(), a.clusterCmd())
	return root
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func newH2CClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

// ctx bounds a command by --timeout.
func (a *app) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), a.timeout)
}

func baseURL(addr string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	return "http://" + addr
}

// pdClient talks to the first PD endpoint that answers.
func (a *app) pdClient() flaredbv1connect.PDServiceClient {
	ep := strings.TrimSpace(strings.Split(a.pd, ",")[0])
	return flaredbv1connect.NewPDServiceClient(a.http, baseURL(ep), connect.WithGRPC())
}

func (a *app) adminClient(addr string) flaredbv1connect.AdminServiceClient {
	return flaredbv1connect.NewAdminServiceClient(a.http, baseURL(addr), connect.WithGRPC())
}

// arg decodes a key or value given on the command line.
func (a *app) arg(s string) ([]byte, error) {
	if !a.hexKeys {
		return []byte(s), nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not hex: %w", s, err)
	}
	return b, nil
}

// show renders a key or value for output.
func (a *app) show(b []byte) string {
	if a.hexKeys {
		return hex.EncodeToString(b)
	}
	return string(b)
}

// errNotFound makes `get` of a missing key exit non-zero.
var errNotFound = errors.New("key not found")
