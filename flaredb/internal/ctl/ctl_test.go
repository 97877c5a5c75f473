package ctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/photoncloud/core/flaredb/client/clienttest"
)

// run executes flaredbctl against the fake cluster and returns stdout.
func run(t *testing.T, f *clienttest.Cluster, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := Command(&out, &errOut, func(string) string { return "" })
	cmd.SetArgs(append([]string{"--pd", f.PDURL(), "--timeout", "5s"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func mustRun(t *testing.T, f *clienttest.Cluster, args ...string) string {
	t.Helper()
	out, err := run(t, f, args...)
	if err != nil {
		t.Fatalf("flaredbctl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func TestKVCommands(t *testing.T) {
	f := clienttest.NewCluster(t, 3)
	for _, kv := range [][2]string{{"app/a", "1"}, {"app/b", "2"}, {"app/c", "3"}, {"other", "x"}} {
		if out := mustRun(t, f, "put", kv[0], kv[1]); strings.TrimSpace(out) != "OK" {
			t.Fatalf("put printed %q", out)
		}
	}
	f.Split("app/b")
	if out := mustRun(t, f, "get", "app/b"); !strings.Contains(out, "app/b") || !strings.Contains(out, "2") {
		t.Fatalf("get printed %q", out)
	}
	var got []kvOut
	if err := json.Unmarshal([]byte(mustRun(t, f, "-w", "json", "scan", "app/", "--prefix", "--reverse")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Key != "app/c" || got[2].Key != "app/a" || got[1].Value != "2" {
		t.Fatalf("reverse prefix scan = %+v", got)
	}
	if out := mustRun(t, f, "scan", "--keys-only", "--limit", "2"); strings.Count(out, "\n") != 3 || strings.Contains(out, "VALUE") {
		t.Fatalf("keys-only scan with limit 2 printed %q", out)
	}
	mustRun(t, f, "delete", "app/", "--prefix")
	if _, err := run(t, f, "get", "app/a"); !errors.Is(err, errNotFound) {
		t.Fatalf("get after prefix delete = %v, want not found", err)
	}
	mustGetOut := mustRun(t, f, "get", "other")
	if !strings.Contains(mustGetOut, "x") {
		t.Fatalf("prefix delete removed a key outside the prefix: %q", mustGetOut)
	}
	// CAS: a failed compare prints the current value and exits non-zero.
	out, err := run(t, f, "cas", "other", "y", "--prev", "nope")
	if err == nil || !strings.Contains(out, `"x"`) {
		t.Fatalf("failed cas = %q, %v", out, err)
	}
	mustRun(t, f, "cas", "other", "y", "--prev", "x")
	mustRun(t, f, "cas", "fresh", "1", "--prev-not-exists")
	if _, err := run(t, f, "cas", "fresh", "2"); err == nil {
		t.Fatal("cas without --prev or --prev-not-exists accepted")
	}
	// Hex mode round-trips binary keys.
	mustRun(t, f, "--hex", "put", "00ff", "0102")
	if out := mustRun(t, f, "--hex", "get", "00ff"); !strings.Contains(out, "0102") {
		t.Fatalf("hex get printed %q", out)
	}
	if _, err := run(t, f, "--hex", "get", "zz"); err == nil {
		t.Fatal("non-hex key accepted with --hex")
	}
	if _, err := run(t, f, "-w", "yaml", "get", "x"); err == nil {
		t.Fatal("-w yaml accepted")
	}
}

func TestRegionStoreClusterCommands(t *testing.T) {
	f := clienttest.NewCluster(t, 3)
	out := mustRun(t, f, "region", "split", "m")
	if !strings.Contains(out, `"m"`) {
		t.Fatalf("split printed %q", out)
	}
	if n := len(f.Regions()); n != 2 {
		t.Fatalf("%d regions after split, want 2", n)
	}
	var regions []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, f, "-w", "json", "region", "list")), &regions); err != nil {
		t.Fatal(err)
	}
	if len(regions) != 2 {
		t.Fatalf("region list = %v", regions)
	}
	if out := mustRun(t, f, "region", "show", "--key", "z"); !strings.Contains(out, `"m"`) || !strings.Contains(out, "+inf") {
		t.Fatalf("region show --key z printed %q", out)
	}
	if out := mustRun(t, f, "region", "show", "1"); !strings.Contains(out, "1/2") {
		t.Fatalf("region show 1 printed %q (want epoch 1/2 after the split)", out)
	}
	var replicas []replicaStatus
	if err := json.Unmarshal([]byte(mustRun(t, f, "-w", "json", "region", "status", "1")), &replicas); err != nil {
		t.Fatal(err)
	}
	if len(replicas) != 3 || replicas[0].RaftState != "Leader" || replicas[1].RaftState != "Follower" || replicas[0].Version != 2 {
		t.Fatalf("region status = %+v", replicas)
	}
	f.StopStore(3)
	if out := mustRun(t, f, "region", "status", "1"); !strings.Contains(out, "error:") || !strings.Contains(out, "Leader") {
		t.Fatalf("region status with store 3 down printed %q", out)
	}
	if out := mustRun(t, f, "store", "list"); strings.Count(out, "UP") != 3 {
		t.Fatalf("store list printed %q", out)
	}
	if out := mustRun(t, f, "store", "set-state", "2", "offline"); !strings.Contains(out, "OFFLINE") {
		t.Fatalf("store set-state printed %q", out)
	}
	if _, err := run(t, f, "store", "set-state", "2", "gone"); err == nil {
		t.Fatal("set-state to an unknown state accepted")
	}
	var st clusterStatus
	if err := json.Unmarshal([]byte(mustRun(t, f, "-w", "json", "cluster", "status")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Regions != 2 || st.Stores != 3 || st.StoresUp != 2 || st.UnderReplicated != 0 || !st.Bootstrapped {
		t.Fatalf("cluster status = %+v", st)
	}
}
