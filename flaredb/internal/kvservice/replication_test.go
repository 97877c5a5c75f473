package kvservice

import (
	"bytes"
	"context"
	"testing"

	"github.com/photoncloud/core/flaredb/internal/store"
)

// replicaValue reads key straight from one store's replica of the region
// holding it (no leader check): what that replica has applied.
func replicaValue(st *store.Store, k []byte) ([]byte, bool) {
	for _, p := range st.Peers() {
		r := p.Region()
		if r == nil || bytes.Compare(k, r.GetStartKey()) < 0 || (len(r.GetEndKey()) > 0 && bytes.Compare(k, r.GetEndKey()) >= 0) {
			continue
		}
		v, ok, err := p.LocalGet(context.Background(), k)
		if err != nil {
			return nil, false
		}
		return v, ok
	}
	return nil, false
}

func TestWritesReplicateAndSurviveLeaderKill(t *testing.T) {
	c := newCluster(t, 3, store.Config{}, true)
	for i := 0; i < 30; i++ {
		if err := c.put(key(i), val(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range c.list() {
		waitFor(t, "replication to every store", func() bool {
			for i := 0; i < 30; i++ {
				if v, ok := replicaValue(nd.st, key(i)); !ok || !bytes.Equal(v, val(i)) {
					return false
				}
			}
			return true
		})
	}

	leader, _ := c.leaderFor(key(0))
	if leader == nil {
		t.Fatal("no leader")
	}
	c.stop(leader.id)
	for i := 30; i < 60; i++ {
		if err := c.put(key(i), val(i)); err != nil {
			t.Fatalf("put after leader kill: %v", err)
		}
	}
	for i := 0; i < 60; i++ {
		c.mustGet(t, key(i), val(i))
	}
	if nl, _ := c.leaderFor(key(0)); nl == nil || nl.id == leader.id {
		t.Fatalf("no new leader after killing store %d", leader.id)
	}

	// The killed store comes back and catches up.
	c.start(leader)
	waitFor(t, "restarted store catches up", func() bool {
		v, ok := replicaValue(leader.st, key(59))
		return ok && bytes.Equal(v, val(59))
	})
}
