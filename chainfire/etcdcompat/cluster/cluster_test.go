package cluster

import (
	"os"
	"path/filepath"
	"testing"
)

func TestImplFromEnv(t *testing.T) {
	for env, want := range map[string]Impl{"": Chainfire, "chainfire": Chainfire, "etcd": Etcd} {
		t.Setenv(ImplEnv, env)
		got, err := ImplFromEnv()
		if err != nil || got != want {
			t.Fatalf("%s=%q: got %q, %v; want %q", ImplEnv, env, got, err, want)
		}
	}
	t.Setenv(ImplEnv, "consul")
	if _, err := ImplFromEnv(); err == nil {
		t.Fatalf("%s=consul: no error", ImplEnv)
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := freePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	hi := ephemeralLow()
	for _, p := range ports {
		if seen[p] || p < minPort || p >= hi {
			t.Fatalf("ports %v: %d repeated or outside [%d, %d)", ports, p, minPort, hi)
		}
		seen[p] = true
	}
}

func TestRepoLayout(t *testing.T) {
	mod, err := ModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "chainfire", "cmd", "chainfire")); err != nil {
		t.Fatalf("repo root %s: %v", root, err)
	}
	if rel, err := filepath.Rel(root, mod); err != nil || rel != filepath.Join("chainfire", "etcdcompat") {
		t.Fatalf("module %s is not chainfire/etcdcompat under %s", mod, root)
	}
	if withoutEnv([]string{"GOWORK=off", "A=1", "GOWORKX=2"}, "GOWORK")[0] != "A=1" {
		t.Fatalf("withoutEnv kept GOWORK")
	}
}
