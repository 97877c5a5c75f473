package member

import (
	"context"
	"time"
)

// removalPoll is how often a member looks for itself in the Raft
// configuration.
const removalPoll = 500 * time.Millisecond

// Removed is closed once this member has seen itself removed from the
// cluster's configuration. Like etcd's, a removed member should stop: it
// no longer gets the log, so whatever it would serve is stale.
func (m *Member) Removed() <-chan struct{} { return m.removed }

// watchRemoval closes removed when the configuration that listed this
// member stops listing it. A member joining an existing cluster has no
// configuration until the leader reaches it, hence "listed, then not".
func (m *Member) watchRemoval(ctx context.Context) {
	tick := time.NewTicker(removalPoll)
	defer tick.Stop()
	listed := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		servers, err := m.node.Configuration()
		if err != nil || len(servers) == 0 {
			continue
		}
		in := false
		for _, s := range servers {
			in = in || s.ID == serverID(m.id)
		}
		switch {
		case in:
			listed = true
		case listed:
			m.log.Warn("this member has been removed from the cluster")
			close(m.removed)
			return
		}
	}
}
