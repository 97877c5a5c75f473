// Package pdapptest runs a real placement driver in-process for tests of
// the components that talk to it (stores, the client, flaredbctl).
package pdapptest

import (
	"testing"

	"github.com/photoncloud/core/flaredb/internal/pd/pdapp"
	"github.com/photoncloud/core/pkg/servertest"
)

// StartPD runs a real flaredb-pd in-process on a free port, keeping its
// state in the Chainfire at chainfireEndpoint, waits until it is ready and
// stops it when the test ends. It returns PD's address (host:port). args
// are extra flags, e.g. "--max-replicas=1".
func StartPD(t testing.TB, chainfireEndpoint string, args ...string) string {
	t.Helper()
	addr := servertest.FreeAddr(t)
	servertest.RunCommand(t, pdapp.Command("test", "test"), addr,
		append([]string{"--listen-addr", addr, "--chainfire-endpoints", chainfireEndpoint, "--log-level", "warn"}, args...)...)
	servertest.WaitReady(t, addr)
	return addr
}
