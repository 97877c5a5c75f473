package app

import (
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
}
