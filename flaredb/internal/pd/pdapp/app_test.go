package pdapp_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/internal/pd/pdapp"
	"github.com/photoncloud/core/flaredb/internal/pd/pdtest"
	"github.com/photoncloud/core/pkg/servertest"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

func TestMain(m *testing.M) { os.Exit(pdtest.Main(m)) }

// TestPlumbing runs the real command against a real Chainfire and holds it
// to the shared server contract, then bootstraps through the RPC API.
func TestPlumbing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Chainfire process")
	}
	cf := pdtest.StartChainfire(t)
	addr := servertest.FreeAddr(t)
	servertest.RunCommand(t, pdapp.Command("test", "test"), addr, "--listen-addr", addr, "--chainfire-endpoints", cf.Endpoint)
	servertest.CheckPlumbing(t, addr, "flaredb-pd", "flaredb.v1.PDService")

	ctx := context.Background()
	c := flaredbv1connect.NewPDServiceClient(servertest.HTTP2Client(), "http://"+addr, connect.WithGRPC())
	if _, err := c.GetRegion(ctx, connect.NewRequest(&flaredbv1.GetRegionRequest{Key: []byte("a")})); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("GetRegion before bootstrap = %v, want FailedPrecondition", err)
	}
	id, err := c.AllocID(ctx, connect.NewRequest(&flaredbv1.AllocIDRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	store := &flaredbv1.Store{Id: id.Msg.GetId(), Address: "127.0.0.1:1"}
	boot, err := c.Bootstrap(ctx, connect.NewRequest(&flaredbv1.BootstrapRequest{Store: store}))
	if err != nil || !boot.Msg.GetBootstrapped() || boot.Msg.GetClusterId() == 0 {
		t.Fatalf("Bootstrap = %v, %v", boot, err)
	}
	got, err := c.GetRegion(ctx, connect.NewRequest(&flaredbv1.GetRegionRequest{Key: []byte("anything")}))
	if err != nil || got.Msg.GetRegion().GetPeers()[0].GetStoreId() != store.GetId() {
		t.Fatalf("GetRegion after bootstrap = %v, %v", got, err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"flaredb_pd_regions 1", "flaredb_pd_regions_under_replicated 1", `flaredb_pd_stores{state="up"} 1`, "flaredb_pd_id_batches_total 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	wrong := &flaredbv1.PDHeader{ClusterId: boot.Msg.GetClusterId() + 1}
	if _, err := c.GetRegion(ctx, connect.NewRequest(&flaredbv1.GetRegionRequest{Header: wrong})); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("GetRegion for another cluster = %v, want FailedPrecondition", err)
	}
	if _, err := c.RegionHeartbeat(ctx, connect.NewRequest(&flaredbv1.RegionHeartbeatRequest{Region: &flaredbv1.Region{Id: 5}})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("heartbeat of a malformed region = %v, want InvalidArgument", err)
	}
}

// TestNotReadyWithoutChainfire: with Chainfire unreachable PD serves
// health checks but is not ready and refuses PD calls as Unavailable.
func TestNotReadyWithoutChainfire(t *testing.T) {
	addr := servertest.FreeAddr(t)
	dead := servertest.FreeAddr(t)
	servertest.RunCommand(t, pdapp.Command("test", "test"), addr, "--listen-addr", addr, "--chainfire-endpoints", dead, "--chainfire-timeout", "200ms")
	time.Sleep(300 * time.Millisecond)
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("/readyz answered 200 with Chainfire unreachable")
	}
	c := flaredbv1connect.NewPDServiceClient(servertest.HTTP2Client(), "http://"+addr, connect.WithGRPC())
	if _, err := c.AllocID(context.Background(), connect.NewRequest(&flaredbv1.AllocIDRequest{})); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("AllocID without Chainfire = %v, want Unavailable", err)
	}
}

func TestRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--max-replicas", "0"}, {"--chainfire-prefix", "nope"}, {"--max-store-down-time", "0s"}} {
		cmd := pdapp.Command("test", "test")
		cmd.SetArgs(append(args, "--listen-addr", "127.0.0.1:0"))
		if err := cmd.ExecuteContext(context.Background()); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
