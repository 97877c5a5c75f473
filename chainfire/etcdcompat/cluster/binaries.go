package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ModulePath is this module's path; the harness finds the module (and the
// repository around it) by walking up from the working directory to the
// go.mod that declares it.
const ModulePath = "github.com/photoncloud/core/chainfire/etcdcompat"

// buildTimeout bounds one `go build` of a server or etcdctl (a cold build of
// etcd on two cores takes a minute or two).
const buildTimeout = 8 * time.Minute

var (
	binDirOnce sync.Once
	binDir     string
	binDirErr  error

	builds sync.Map // binary name -> *buildOnce
)

type buildOnce struct {
	once sync.Once
	path string
	err  error
}

// Main runs the tests of a package that uses the harness and removes the
// directory the binaries were built into. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	return code
}

// ServerBinary returns the path of impl's server binary: $CHAINFIRE_BIN or
// $ETCD_BIN when set, otherwise a binary built once per test process.
func ServerBinary(t testing.TB, impl Impl) string {
	t.Helper()
	switch impl {
	case Etcd:
		return binary(t, impl.binEnv(), "etcd", buildEtcdTool("go.etcd.io/etcd/server/v3"))
	case Chainfire:
		return binary(t, impl.binEnv(), "chainfire", buildChainfire)
	default:
		t.Fatalf("cluster: unknown implementation %q", impl)
		return ""
	}
}

// EtcdctlBinary returns the path of etcdctl: $ETCDCTL_BIN when set, otherwise
// go.etcd.io/etcd/etcdctl/v3 built once per test process from this module's
// pinned tool dependency.
func EtcdctlBinary(t testing.TB) string {
	t.Helper()
	return binary(t, "ETCDCTL_BIN", "etcdctl", buildEtcdTool("go.etcd.io/etcd/etcdctl/v3"))
}

type buildFunc func(ctx context.Context, out string) error

func binary(t testing.TB, env, name string, build buildFunc) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("cluster: $%s: %v", env, err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("cluster: $%s: %v", env, err)
		}
		return abs
	}
	v, _ := builds.LoadOrStore(name, &buildOnce{})
	b := v.(*buildOnce)
	b.once.Do(func() {
		dir, err := buildDir()
		if err != nil {
			b.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		start := time.Now()
		out := filepath.Join(dir, name)
		if err := build(ctx, out); err != nil {
			b.err = fmt.Errorf("building %s (set $%s to use a prebuilt one): %w", name, env, err)
			return
		}
		b.path = out
		t.Logf("cluster: built %s in %v", name, time.Since(start).Round(100*time.Millisecond))
	})
	if b.err != nil {
		t.Fatalf("cluster: %v", b.err)
	}
	return b.path
}

func buildDir() (string, error) {
	binDirOnce.Do(func() {
		binDir, binDirErr = os.MkdirTemp("", "etcdcompat-bin-")
	})
	return binDir, binDirErr
}

// buildEtcdTool builds a main package that this module pins as a tool, from
// inside the module and outside the workspace.
func buildEtcdTool(pkg string) buildFunc {
	return func(ctx context.Context, out string) error {
		dir, err := ModuleDir()
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = dir
		cmd.Env = append(withoutEnv(os.Environ(), "GOWORK"), "GOWORK=off")
		return runBuild(cmd)
	}
}

// buildChainfire builds ./chainfire/cmd/chainfire from the repository root
// with the workspace (GOWORK unset), as `make build` does.
func buildChainfire(ctx context.Context, out string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./chainfire/cmd/chainfire")
	cmd.Dir = root
	cmd.Env = withoutEnv(os.Environ(), "GOWORK")
	return runBuild(cmd)
}

func runBuild(cmd *exec.Cmd) error {
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s (in %s): %v\n%s", strings.Join(cmd.Args, " "), cmd.Dir, err, buf.String())
	}
	return nil
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// ModuleDir returns the directory of this module (the one whose go.mod
// declares ModulePath), found by walking up from the working directory.
func ModuleDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if declaresModule(filepath.Join(dir, "go.mod"), ModulePath) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod declaring %s above %s", ModulePath, wd)
		}
	}
}

// RepoRoot returns the repository root: the nearest directory above the
// module that holds go.work and chainfire/cmd/chainfire.
func RepoRoot() (string, error) {
	mod, err := ModuleDir()
	if err != nil {
		return "", err
	}
	for dir := filepath.Dir(mod); ; dir = filepath.Dir(dir) {
		if isFile(filepath.Join(dir, "go.work")) && isDir(filepath.Join(dir, "chainfire", "cmd", "chainfire")) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("no repository root (go.work with chainfire/cmd/chainfire) above " + mod)
		}
	}
}

func declaresModule(gomod, path string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == path
		}
	}
	return false
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
