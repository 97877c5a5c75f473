package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/client"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// flareCluster is FlareDB as deployed: a one-member Chainfire holding PD's
// metadata, flaredb-pd and three flaredb stores.
type flareCluster struct {
	cf, pd     *Proc
	pdAddr     string
	stores     []*Proc
	storeAddrs []string
	admins     []flaredbv1connect.AdminServiceClient
	hc         *http.Client
}

// flareOptions are the store flags that differ between bench modes.
type flareOptions struct {
	regionHeartbeat time.Duration
	extraStoreArgs  []string
}

func startFlareCluster(ctx context.Context, bins *Binaries, dir string, o flareOptions) (*flareCluster, error) {
	addrs, err := freeAddrs(3 + 6)
	if err != nil {
		return nil, err
	}
	cfClient, cfPeer, pdAddr := addrs[0], addrs[1], addrs[2]
	c := &flareCluster{pdAddr: pdAddr, hc: h2cClient()}
	c.cf = newProc("fdb-chainfire", bins.Chainfire, dir,
		"--name=cf", "--data-dir="+filepath.Join(dir, "fdb-chainfire"),
		"--listen-client-urls=http://"+cfClient, "--advertise-client-urls=http://"+cfClient,
		"--listen-peer-urls=http://"+cfPeer, "--initial-advertise-peer-urls=http://"+cfPeer,
		"--initial-cluster=cf=http://"+cfPeer, "--log-level=warn")
	if err := c.cf.Start(); err != nil {
		return nil, err
	}
	if err := c.cf.waitHTTP(ctx, cfClient, "/readyz"); err != nil {
		c.stop()
		return nil, err
	}
	c.pd = newProc("flaredb-pd", bins.PD, dir, "--listen-addr", pdAddr, "--chainfire-endpoints", cfClient, "--log-level", "warn")
	if err := c.pd.Start(); err != nil {
		c.stop()
		return nil, err
	}
	if err := c.pd.waitHTTP(ctx, pdAddr, "/readyz"); err != nil {
		c.stop()
		return nil, err
	}
	for i := range 3 {
		addr, raftAddr := addrs[3+2*i], addrs[4+2*i]
		name := fmt.Sprintf("flaredb-%d", i+1)
		args := append([]string{"--name", name, "--listen-addr", addr, "--raft-addr", raftAddr,
			"--data-dir", filepath.Join(dir, name), "--pd-endpoints", pdAddr,
			"--region-heartbeat-interval", o.regionHeartbeat.String(), "--store-heartbeat-interval", "2s",
			"--log-level", "warn", "--enable-pprof"}, o.extraStoreArgs...)
		p := newProc(name, bins.Store, dir, args...)
		if err := p.Start(); err != nil {
			c.stop()
			return nil, err
		}
		c.stores, c.storeAddrs = append(c.stores, p), append(c.storeAddrs, addr)
		c.admins = append(c.admins, flaredbv1connect.NewAdminServiceClient(c.hc, "http://"+addr, connect.WithGRPC()))
		if i == 0 { // the first store bootstraps the cluster
			if err := p.waitHTTP(ctx, addr, "/readyz"); err != nil {
				c.stop()
				return nil, err
			}
		}
	}
	for i, p := range c.stores {
		if err := p.waitHTTP(ctx, c.storeAddrs[i], "/readyz"); err != nil {
			c.stop()
			return nil, err
		}
	}
	return c, nil
}

// pids are every process FlareDB runs on: stores, PD and PD's Chainfire.
func (c *flareCluster) pids() []int {
	out := []int{c.cf.Pid(), c.pd.Pid()}
	for _, p := range c.stores {
		out = append(out, p.Pid())
	}
	return out
}

func (c *flareCluster) stop() {
	for _, p := range c.stores {
		p.Kill()
	}
	if c.pd != nil {
		c.pd.Kill()
	}
	if c.cf != nil {
		c.cf.Kill()
	}
}

// regions lists the replicas store i hosts.
func (c *flareCluster) regions(ctx context.Context, i int) ([]*flaredbv1.RegionStatus, error) {
	resp, err := c.admins[i].ListRegions(ctx, connect.NewRequest(&flaredbv1.ListRegionsRequest{}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetRegions(), nil
}

// settled reports whether every store hosts want regions, each with three
// peers, and every region has exactly one leader.
func (c *flareCluster) settled(ctx context.Context, want int) bool {
	leaders := map[uint64]int{}
	for i := range c.stores {
		regs, err := c.regions(ctx, i)
		if err != nil || len(regs) != want {
			return false
		}
		for _, r := range regs {
			if len(r.GetRegion().GetPeers()) != 3 {
				return false
			}
			if r.GetRaftState() == "Leader" {
				leaders[r.GetRegion().GetId()]++
			}
		}
	}
	if len(leaders) != want {
		return false
	}
	for _, n := range leaders {
		if n != 1 {
			return false
		}
	}
	return true
}

// waitSettled waits until settled(want).
func (c *flareCluster) waitSettled(ctx context.Context, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !c.settled(ctx, want) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d regions with three replicas and a leader each not reached in %v", want, timeout)
		}
		sleep(ctx, 250*time.Millisecond)
	}
	return nil
}

// split cuts the region holding k at k through the admin API of whichever
// store leads it (a no-op when a region already starts at k).
func (c *flareCluster) split(ctx context.Context, k []byte) error {
	deadline := time.Now().Add(3 * time.Minute)
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		regs, err := c.regions(ctx, 0)
		if err != nil {
			last = err
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		var id uint64
		for _, r := range regs {
			reg := r.GetRegion()
			if bytes.Compare(reg.GetStartKey(), k) <= 0 && (len(reg.GetEndKey()) == 0 || bytes.Compare(k, reg.GetEndKey()) < 0) {
				if bytes.Equal(reg.GetStartKey(), k) {
					return nil
				}
				id = reg.GetId()
			}
		}
		if id == 0 {
			last = errors.New("no region holds the key on store 1")
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		for _, a := range c.admins {
			_, err := a.SplitRegion(ctx, connect.NewRequest(&flaredbv1.SplitRegionRequest{RegionId: id, SplitKey: k}))
			if err == nil {
				return nil
			}
			last = err
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return fmt.Errorf("split at %q: %w", k, last)
}

// splitInto pre-splits the key space [0, keys) into n regions at evenly
// spaced keys.
func (c *flareCluster) splitInto(ctx context.Context, n, keys int) error {
	for i := 1; i < n; i++ {
		if err := c.split(ctx, key(i*keys/n)); err != nil {
			return err
		}
	}
	return c.waitSettled(ctx, n, 3*time.Minute+time.Duration(n)*100*time.Millisecond)
}

// conns opens n FlareDB clients.
func (c *flareCluster) conns(n int, opts ...client.Option) ([]conn, error) {
	out := make([]conn, n)
	for i := range out {
		fc, err := newFlareConn(c.pdAddr, opts...)
		if err != nil {
			return nil, err
		}
		out[i] = fc
	}
	return out, nil
}

// preload writes keys [0, keys) with BatchPut.
func (c *flareCluster) preload(ctx context.Context, keys, valueLen int) error {
	fc, err := newFlareConn(c.pdAddr)
	if err != nil {
		return err
	}
	defer fc.close()
	value := make([]byte, valueLen)
	const batch = 1000
	for lo := 0; lo < keys; lo += batch {
		var kvs []clientKV
		for k := lo; k < min(keys, lo+batch); k++ {
			kvs = append(kvs, clientKV{Key: key(k), Value: value})
		}
		if err := fc.c.BatchPut(ctx, kvs); err != nil {
			return fmt.Errorf("flaredb preload: %w", err)
		}
	}
	return nil
}
