package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/internal/pd/pdapptest"
	"github.com/photoncloud/core/flaredb/internal/pd/pdtest"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

func TestMain(m *testing.M) { os.Exit(pdtest.Main(m)) }

// TestAgainstRealPD drives the metadata commands against a real PD on a
// real Chainfire, with stores registered through PD's own API.
func TestAgainstRealPD(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Chainfire process")
	}
	cf := pdtest.StartChainfire(t)
	addr := pdapptest.StartPD(t, cf.Endpoint)
	ctx := context.Background()
	pd := flaredbv1connect.NewPDServiceClient(newH2CClient(), "http://"+addr, connect.WithGRPC())
	for i := range 3 {
		id, err := pd.AllocID(ctx, connect.NewRequest(&flaredbv1.AllocIDRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		st := &flaredbv1.Store{Id: id.Msg.GetId(), Address: fmt.Sprintf("127.0.0.1:%d", 30000+i)}
		if i == 0 {
			if _, err := pd.Bootstrap(ctx, connect.NewRequest(&flaredbv1.BootstrapRequest{Store: st})); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := pd.StoreHeartbeat(ctx, connect.NewRequest(&flaredbv1.StoreHeartbeatRequest{Store: st, Stats: &flaredbv1.StoreStats{StoreId: st.GetId(), Capacity: 100}})); err != nil {
			t.Fatal(err)
		}
	}
	ctlRun := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		cmd := Command(&out, &out, func(string) string { return "" })
		cmd.SetArgs(append([]string{"--pd", addr, "--timeout", "10s"}, args...))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("flaredbctl %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	var st clusterStatus
	if err := json.Unmarshal([]byte(ctlRun("-w", "json", "cluster", "status")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Bootstrapped || st.ClusterID == "0" || st.Stores != 3 || st.StoresUp != 3 || st.Regions != 1 || st.UnderReplicated != 1 || st.MaxReplicas != 3 {
		t.Fatalf("cluster status = %+v", st)
	}
	if out := ctlRun("region", "list"); !strings.Contains(out, "-inf") || !strings.Contains(out, "+inf") {
		t.Fatalf("region list printed %q", out)
	}
	var stores []map[string]any
	if err := json.Unmarshal([]byte(ctlRun("-w", "json", "store", "list")), &stores); err != nil || len(stores) != 3 {
		t.Fatalf("store list = %v, %v", stores, err)
	}
	id := fmt.Sprint(stores[2]["store"].(map[string]any)["id"])
	ctlRun("store", "set-state", id, "tombstone")
	if out := ctlRun("store", "list"); strings.Count(out, "TOMBSTONE") != 1 {
		t.Fatalf("after tombstoning store %s, store list printed %q", id, out)
	}
}
