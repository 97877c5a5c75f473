// Package pdapptest runs a real placement driver in-process for tests of
// the components that talk to it (stores, the client, flaredbctl).
package pdapptest

import (
	"context"
	"testing"
	"time"

	"github.com/photoncloud/core/flaredb/internal/pd/pdapp"
	"github.com/photoncloud/core/pkg/servertest"
)

// PD is an in-process flaredb-pd.
type PD struct {
	// Addr is PD's address (host:port); it stays the same across restarts.
	Addr string

	t      testing.TB
	args   []string
	cancel context.CancelFunc
	done   chan error
}

// StartPD runs a real flaredb-pd in-process on a free port, keeping its
// state in the Chainfire at chainfireEndpoint, waits until it is ready and
// stops it when the test ends. It returns PD's address (host:port). args
// are extra flags, e.g. "--max-replicas=1".
func StartPD(t testing.TB, chainfireEndpoint string, args ...string) string {
	return Start(t, chainfireEndpoint, args...).Addr
}

// Start is StartPD returning a handle that can stop and restart PD.
func Start(t testing.TB, chainfireEndpoint string, args ...string) *PD {
	t.Helper()
	addr := servertest.FreeAddr(t)
	p := &PD{Addr: addr, t: t, args: append([]string{
		"--listen-addr", addr, "--chainfire-endpoints", chainfireEndpoint, "--log-level", "warn",
	}, args...)}
	p.Restart()
	t.Cleanup(p.Stop)
	return p
}

// Stop shuts PD down and waits until it has stopped. Stopping a stopped
// PD does nothing.
func (p *PD) Stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Errorf("pdapptest: flaredb-pd exited with: %v", err)
		}
	case <-time.After(30 * time.Second):
		p.t.Errorf("pdapptest: flaredb-pd did not stop within 30s")
	}
	p.cancel = nil
}

// Restart starts PD (again) on the same address and waits until it is
// ready, i.e. has loaded its state from Chainfire.
func (p *PD) Restart() {
	p.t.Helper()
	p.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := pdapp.Command("test", "test")
	cmd.SetArgs(p.args)
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- cmd.ExecuteContext(ctx) }()
	servertest.WaitHealthy(p.t, p.Addr, p.done)
	servertest.WaitReady(p.t, p.Addr)
}
