package app

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/photoncloud/core/pkg/servertest"
)

// TestPlumbing starts the real command in-process and holds it to the
// contract every PhotonCloud server shares (health, readiness, metrics,
// reflection, Connect and gRPC, unknown methods, size limits).
func TestPlumbing(t *testing.T) {
	addr, peer := servertest.FreeAddr(t), "http://"+servertest.FreeAddr(t)
	servertest.RunCommand(t, Command("test", "test"), addr,
		"--listen-client-urls", "http://"+addr, "--advertise-client-urls", "http://"+addr,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default="+peer, "--data-dir", t.TempDir())
	servertest.CheckPlumbing(t, addr, "chainfire",
		"etcdserverpb.KV", "etcdserverpb.Watch", "etcdserverpb.Lease",
		"etcdserverpb.Cluster", "etcdserverpb.Maintenance", "etcdserverpb.Auth")
	t.Run("etcd operator metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, want := range []string{
			"etcd_server_has_leader 1", "etcd_server_is_leader 1", "etcd_server_leader_changes_seen_total",
			"etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total",
			"etcd_server_proposals_pending ", "etcd_server_proposals_failed_total",
			"etcd_mvcc_db_total_size_in_bytes", "etcd_disk_wal_fsync_duration_seconds_count",
			"etcd_disk_backend_commit_duration_seconds_count",
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %q in:\n%s", want, body)
			}
		}
	})
}
