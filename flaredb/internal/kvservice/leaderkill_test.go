package kvservice

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/photoncloud/core/flaredb/internal/store"
)

// TestLeaderKillMidLoad kills the region leader while writers are busy;
// writers retry through routing, and every write acknowledged before,
// during or after the kill is readable from the new leader.
func TestLeaderKillMidLoad(t *testing.T) {
	c := newCluster(t, 3, store.Config{}, true)
	var (
		mu    sync.Mutex
		acked = map[string][]byte{}
		stop  atomic.Bool
		count atomic.Int64
		wg    sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				k, v := key(w*100000+i), val(i)
				if err := c.put(k, v); err == nil {
					mu.Lock()
					acked[string(k)] = v
					mu.Unlock()
					count.Add(1)
				}
			}
		}()
	}
	waitFor(t, "writes before the kill", func() bool { return count.Load() > 100 })
	leader, _ := c.leaderForWait(t, key(0))
	c.stop(leader.id)
	before := count.Load()
	waitFor(t, "writes after the kill", func() bool { return count.Load() > before+100 })
	stop.Store(true)
	wg.Wait()
	for k, v := range acked {
		c.mustGet(t, []byte(k), v)
	}
}
