package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries are the server executables the benchmark starts.
type Binaries struct {
	Dir       string
	Etcd      string
	Chainfire string
	Store     string
	PD        string
}

// Remove deletes the directory the binaries were built in.
func (b *Binaries) Remove() {
	if b != nil && b.Dir != "" {
		_ = os.RemoveAll(b.Dir)
	}
}

// BuildBinaries builds Chainfire, the FlareDB store and PD from the
// workspace, and etcd from the version chainfire/etcdcompat pins (outside
// the workspace, as that module's own harness does). $ETCD_BIN,
// $CHAINFIRE_BIN, $FLAREDB_BIN and $FLAREDB_PD_BIN, when set, are used
// instead of building (to compare an older store, say).
func BuildBinaries(ctx context.Context, root string) (*Binaries, error) {
	dir, err := os.MkdirTemp("", "flaredb-bench-bin-")
	if err != nil {
		return nil, err
	}
	b := &Binaries{Dir: dir}
	steps := []struct {
		out    *string
		env    string
		name   string
		subdir string
		pkg    string
		noWork bool
	}{
		{&b.Store, "FLAREDB_BIN", "flaredb", ".", "./flaredb/cmd/flaredb", false},
		{&b.PD, "FLAREDB_PD_BIN", "flaredb-pd", ".", "./flaredb/cmd/flaredb-pd", false},
		{&b.Chainfire, "CHAINFIRE_BIN", "chainfire", ".", "./chainfire/cmd/chainfire", false},
		{&b.Etcd, "ETCD_BIN", "etcd", "chainfire/etcdcompat", "go.etcd.io/etcd/server/v3", true},
	}
	for _, s := range steps {
		if p := os.Getenv(s.env); s.env != "" && p != "" {
			*s.out = p
			continue
		}
		out := filepath.Join(dir, s.name)
		if err := goBuild(ctx, filepath.Join(root, s.subdir), s.pkg, out, s.noWork); err != nil {
			return b, fmt.Errorf("build %s: %w", s.name, err)
		}
		*s.out = out
	}
	return b, nil
}

func goBuild(ctx context.Context, dir, pkg, out string, noWork bool) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOWORK=") {
			env = append(env, kv)
		}
	}
	if noWork {
		env = append(env, "GOWORK=off")
	}
	cmd.Env = env
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", pkg, dir, err, buf.String())
	}
	return nil
}

// RepoRoot finds the repository root (go.work next to flaredb/) above the
// working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.work")) && isFile(filepath.Join(dir, "flaredb", "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no repository root (go.work with flaredb/go.mod) above the working directory")
		}
		dir = parent
	}
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
