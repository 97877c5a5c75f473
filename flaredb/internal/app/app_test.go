package app

import (
	"testing"

	"github.com/photoncloud/core/pkg/servertest"
)

// TestPlumbing starts the real command in-process (standalone: no PD) and
// holds it to the contract every PhotonCloud server shares (health,
// readiness, metrics, reflection, Connect and gRPC, unknown methods, size
// limits).
func TestPlumbing(t *testing.T) {
	addr := servertest.FreeAddr(t)
	servertest.RunCommand(t, Command("test", "test"), addr, "--listen-addr", addr,
		"--raft-addr", servertest.FreeAddr(t), "--data-dir", t.TempDir())
	servertest.CheckPlumbing(t, addr, "flaredb")
}
