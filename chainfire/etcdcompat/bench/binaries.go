package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// Binaries are the server binaries a run starts.
type Binaries struct {
	Chainfire, Etcd string
	dir             string // removed by Remove when the binaries were built here
}

// BuildBinaries returns $CHAINFIRE_BIN and $ETCD_BIN when set, and otherwise
// builds the missing ones into a fresh temporary directory: Chainfire from
// the repository with the workspace, etcd from the version this module pins
// as a tool.
func BuildBinaries(ctx context.Context) (*Binaries, error) {
	b := &Binaries{Chainfire: os.Getenv("CHAINFIRE_BIN"), Etcd: os.Getenv("ETCD_BIN")}
	if b.Chainfire != "" && b.Etcd != "" {
		return b, nil
	}
	dir, err := os.MkdirTemp("", "chainfire-bench-bin-")
	if err != nil {
		return nil, fmt.Errorf("bench: build dir: %w", err)
	}
	b.dir = dir
	if b.Chainfire == "" {
		root, err := cluster.RepoRoot()
		if err != nil {
			return b, fmt.Errorf("bench: %w", err)
		}
		b.Chainfire = filepath.Join(dir, "chainfire")
		if err := goBuild(ctx, root, false, b.Chainfire, "./chainfire/cmd/chainfire"); err != nil {
			return b, err
		}
	}
	if b.Etcd == "" {
		mod, err := cluster.ModuleDir()
		if err != nil {
			return b, fmt.Errorf("bench: %w", err)
		}
		b.Etcd = filepath.Join(dir, "etcd")
		if err := goBuild(ctx, mod, true, b.Etcd, "go.etcd.io/etcd/server/v3"); err != nil {
			return b, err
		}
	}
	return b, nil
}

// Remove deletes the binaries this process built.
func (b *Binaries) Remove() {
	if b != nil && b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

func goBuild(ctx context.Context, dir string, workspaceOff bool, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOWORK=") {
			env = append(env, kv)
		}
	}
	if workspaceOff {
		env = append(env, "GOWORK=off")
	}
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bench: go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}
