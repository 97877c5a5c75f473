package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func testSpec(got *string, env map[string]string) Spec {
	return Spec{
		Name:   "demo-svc",
		Flags:  func(fs *pflag.FlagSet) { fs.StringVar(got, "listen-addr", "default:1", "where to listen") },
		Run:    func(context.Context, *Runtime) error { return nil },
		Getenv: func(k string) string { return env[k] },
	}
}

func TestEnvironmentSetsUnsetFlags(t *testing.T) {
	var got string
	cmd := NewCommand(testSpec(&got, map[string]string{"DEMO_SVC_LISTEN_ADDR": "env:2"}))
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got != "env:2" {
		t.Errorf("listen-addr = %q; want the environment's env:2", got)
	}
}

func TestCommandLineWinsOverEnvironment(t *testing.T) {
	var got string
	cmd := NewCommand(testSpec(&got, map[string]string{"DEMO_SVC_LISTEN_ADDR": "env:2"}))
	cmd.SetArgs([]string{"--listen-addr", "flag:3"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got != "flag:3" {
		t.Errorf("listen-addr = %q; want the flag's flag:3", got)
	}
}

func TestBadEnvironmentValueIsAClearError(t *testing.T) {
	var got string
	cmd := NewCommand(testSpec(&got, map[string]string{"DEMO_SVC_SHUTDOWN_TIMEOUT": "soon"}))
	cmd.SetArgs(nil)
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "DEMO_SVC_SHUTDOWN_TIMEOUT") {
		t.Errorf("err = %v; want one naming the variable", err)
	}
}

func TestHelpNamesEveryVariable(t *testing.T) {
	var got string
	cmd := NewCommand(testSpec(&got, nil))
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"$DEMO_SVC_LISTEN_ADDR", "$DEMO_SVC_LOG_LEVEL", "$DEMO_SVC_MAX_REQUEST_BYTES", "$DEMO_SVC_SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("--help lacks %s:\n%s", v, out.String())
		}
	}
}

func TestHealthcheckFailsWithoutServer(t *testing.T) {
	var got string
	spec := testSpec(&got, nil)
	spec.HealthAddr = "127.0.0.1:1"
	cmd := NewCommand(spec)
	cmd.SetArgs([]string{"healthcheck", "--timeout", "1s"})
	if err := cmd.Execute(); err == nil {
		t.Error("healthcheck succeeded with nothing listening")
	}
}
