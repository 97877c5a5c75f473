package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// startProfiles fetches a CPU profile from every member of t covering the
// row's warmup and window, writing <dir>/<impl>-<row>-<member>.pprof; the
// returned func waits for them.
func startProfiles(ctx context.Context, t *target, o Options, row Row) func() {
	secs := int((o.Warmup + o.Duration).Seconds() + 0.5)
	if row.Kind == Watch {
		secs += 2 // watchers register before the puts begin
	}
	var wg sync.WaitGroup
	for i, m := range t.cluster.Members() {
		role := "follower"
		if i == t.leader {
			role = "leader"
		}
		name := fmt.Sprintf("%s-%s-%s-%s.pprof", t.impl, slug(row.String()), m.Name, role)
		path := filepath.Join(o.ProfileDir, name)
		url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", m.ClientURL, secs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fetch(ctx, url, path, time.Duration(secs+30)*time.Second); err != nil {
				fmt.Fprintf(o.Log, "# profile %s: %v\n", name, err)
			}
		}()
	}
	return wg.Wait
}

func fetch(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

func slug(s string) string {
	return strings.NewReplacer(" ", "", "(", "-", ")", "", ",", "").Replace(s)
}
