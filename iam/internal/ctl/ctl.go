// Package ctl implements iamctl, the command-line client of IAM: login with
// a cached session, whoami, identity management and token introspection and
// revocation, printing tables for people and JSON for scripts.
package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	iamv1 "github.com/photoncloud/core/proto/iam/v1"
	"github.com/photoncloud/core/proto/iam/v1/iamv1connect"
)

// session is what login caches: enough to call IAM and to refresh.
type session struct {
	Server       string    `json:"server"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	Expiry       time.Time `json:"expiry"`
}

// app carries the global flags and I/O of one invocation.
type app struct {
	server    string
	output    string
	configDir string
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	http      *http.Client
	getenv    func(string) string
}

// Command returns the iamctl root command. getenv supplies defaults for the
// global flags (IAMCTL_SERVER, IAMCTL_OUTPUT, IAMCTL_CONFIG_DIR).
func Command(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, http: &http.Client{Timeout: 30 * time.Second}, getenv: getenv}
	root := &cobra.Command{
		Use:           "iamctl",
		Short:         "Command-line client for PhotonCloud IAM",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if a.output != "table" && a.output != "json" {
				return fmt.Errorf("--output must be table or json, got %q", a.output)
			}
			if a.configDir == "" {
				dir, err := os.UserConfigDir()
				if err != nil {
					return fmt.Errorf("finding the config directory (set --config-dir): %w", err)
				}
				a.configDir = filepath.Join(dir, "photoncloud", "iamctl")
			}
			a.server = strings.TrimSuffix(a.server, "/")
			return nil
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	fs := root.PersistentFlags()
	fs.StringVar(&a.server, "server", envOr(getenv, "IAMCTL_SERVER", "http://127.0.0.1:8090"), "IAM base URL (env IAMCTL_SERVER)")
	fs.StringVarP(&a.output, "output", "o", envOr(getenv, "IAMCTL_OUTPUT", "table"), "output format: table or json (env IAMCTL_OUTPUT)")
	fs.StringVar(&a.configDir, "config-dir", getenv("IAMCTL_CONFIG_DIR"), "where the login session is cached (env IAMCTL_CONFIG_DIR)")
	root.AddCommand(a.loginCmd(), a.logoutCmd(), a.whoamiCmd(), a.tokenCmd(), a.userCmd(), a.groupCmd(), a.saCmd(), a.keyCmd(), a.signingKeyCmd(), a.auditCmd())
	root.AddCommand(a.policyCommands()...)
	return root
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func (a *app) authClient() iamv1connect.AuthServiceClient {
	return iamv1connect.NewAuthServiceClient(a.http, a.server)
}

func (a *app) identityClient() iamv1connect.IdentityServiceClient {
	return iamv1connect.NewIdentityServiceClient(a.http, a.server)
}

func (a *app) sessionPath() string { return filepath.Join(a.configDir, "session.json") }

// saveSession writes the session readable by the user only: it holds a
// refresh token, which is as good as a password for its lifetime.
func (a *app) saveSession(s *session) error {
	if err := os.MkdirAll(a.configDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", a.configDir, err)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding session: %w", err)
	}
	tmp, err := os.CreateTemp(a.configDir, ".session-*")
	if err != nil {
		return fmt.Errorf("writing session: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing session: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing session: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing session: %w", err)
	}
	// Rename is atomic, so a crash never leaves a half-written file.
	if err := os.Rename(tmp.Name(), a.sessionPath()); err != nil {
		return fmt.Errorf("writing session: %w", err)
	}
	return nil
}

var errNotLoggedIn = errors.New("not logged in: run 'iamctl login'")

func (a *app) loadSession() (*session, error) {
	data, err := os.ReadFile(a.sessionPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotLoggedIn
	}
	if err != nil {
		return nil, fmt.Errorf("reading session: %w", err)
	}
	var s session
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading session %s: %w", a.sessionPath(), err)
	}
	if s.Server != a.server {
		return nil, fmt.Errorf("the cached session is for %s, not %s: run 'iamctl login'", s.Server, a.server)
	}
	return &s, nil
}

// token returns a usable access token, refreshing (and re-caching) the
// session when the access token is about to expire.
func (a *app) token(ctx context.Context) (string, error) {
	s, err := a.loadSession()
	if err != nil {
		return "", err
	}
	if time.Until(s.Expiry) > 30*time.Second {
		return s.AccessToken, nil
	}
	resp, err := a.authClient().Refresh(ctx, connect.NewRequest(&iamv1.RefreshRequest{RefreshToken: s.RefreshToken}))
	if err != nil {
		return "", fmt.Errorf("session expired (%w): run 'iamctl login'", err)
	}
	ts := resp.Msg.GetTokens()
	s.AccessToken, s.RefreshToken = ts.GetAccessToken(), ts.GetRefreshToken()
	s.Expiry = time.Now().Add(time.Duration(ts.GetExpiresIn()) * time.Second)
	if err := a.saveSession(s); err != nil {
		return "", err
	}
	return s.AccessToken, nil
}

// authed wraps msg in a request carrying the cached access token.
func authed[T any](ctx context.Context, a *app, msg *T) (*connect.Request[T], error) {
	tok, err := a.token(ctx)
	if err != nil {
		return nil, err
	}
	r := connect.NewRequest(msg)
	r.Header().Set("Authorization", "Bearer "+tok)
	return r, nil
}

// readSecret reads a password: from the terminal without echo when stdin
// is one, else the first line of stdin (for scripts: --password-stdin).
func (a *app) readSecret(prompt string) (string, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("reading password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// print writes msg as JSON, or as a table of the given columns.
func (a *app) print(msg proto.Message, header []string, rows [][]string) error {
	if a.output == "json" {
		b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitUnpopulated: true}.Marshal(msg)
		if err != nil {
			return fmt.Errorf("encoding output: %w", err)
		}
		_, err = fmt.Fprintln(a.stdout, string(b))
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		// Values come from the server; strip tabs and newlines so they
		// cannot break the table.
		clean := make([]string, len(r))
		for i, v := range r {
			clean[i] = strings.Map(func(c rune) rune {
				if c < 0x20 || c == 0x7f {
					return ' '
				}
				return c
			}, v)
		}
		fmt.Fprintln(tw, strings.Join(clean, "\t"))
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func ts(t interface{ AsTime() time.Time }) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}
