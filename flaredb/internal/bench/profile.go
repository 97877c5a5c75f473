package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// profileStores fetches a CPU profile of every store covering d into
// dir/<label>-<store>.pprof; wait for the returned func before reading them.
func (c *flareCluster) profileStores(ctx context.Context, dir, label string, d time.Duration) func() {
	var wg sync.WaitGroup
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return wg.Wait
	}
	for i, addr := range c.storeAddrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds()))
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-store%d.pprof", label, i+1)))
			if err != nil {
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, resp.Body)
		}()
	}
	return wg.Wait
}
