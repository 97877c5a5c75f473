package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/client"
	"github.com/photoncloud/core/flaredb/internal/pd/pdtest"
	"github.com/photoncloud/core/pkg/servertest"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

func TestMain(m *testing.M) { os.Exit(pdtest.Main(m)) }

// storeProc is one flaredb store process.
type storeProc struct {
	args []string
	addr string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

func (s *storeProc) start(t *testing.T, bin string) {
	t.Helper()
	s.log = &bytes.Buffer{}
	s.cmd = exec.Command(bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (s *storeProc) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill() // SIGKILL: no shutdown code runs
		_ = s.cmd.Wait()
	}
}

func buildStore(t *testing.T) string { return buildCmd(t, "flaredb") }

// buildCmd builds ../../cmd/<name> with the race detector.
func buildCmd(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-race", "-o", bin, "../../cmd/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// router sends KV calls to region leaders found through PD, retrying on
// region errors and unreachable stores: a minimal client for this test.
type router struct {
	pd    flaredbv1connect.PDServiceClient
	mu    sync.Mutex
	addrs map[uint64]string
}

func (r *router) storeAddr(ctx context.Context, id uint64) (string, error) {
	r.mu.Lock()
	a, ok := r.addrs[id]
	r.mu.Unlock()
	if ok {
		return a, nil
	}
	resp, err := r.pd.GetStore(ctx, connect.NewRequest(&flaredbv1.GetStoreRequest{StoreId: id}))
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	r.addrs[id] = resp.Msg.GetStore().GetAddress()
	r.mu.Unlock()
	return resp.Msg.GetStore().GetAddress(), nil
}

var errRouting = errors.New("routing")

// call runs fn against the leader of key's region; fn returns errRouting
// for a region error. A non-routing error is returned at once.
func (r *router) call(ctx context.Context, key []byte, fn func(kv flaredbv1connect.KVServiceClient, rc *flaredbv1.Context) error) error {
	var last error
	for ctx.Err() == nil {
		reg, err := r.pd.GetRegion(ctx, connect.NewRequest(&flaredbv1.GetRegionRequest{Key: key}))
		if err == nil && reg.Msg.GetLeader() != nil {
			var addr string
			if addr, err = r.storeAddr(ctx, reg.Msg.GetLeader().GetStoreId()); err == nil {
				kv := flaredbv1connect.NewKVServiceClient(http.DefaultClient, "http://"+addr)
				rg := reg.Msg.GetRegion()
				err = fn(kv, &flaredbv1.Context{RegionId: rg.GetId(), RegionEpoch: rg.GetEpoch()})
				if err == nil {
					return nil
				}
				if c := connect.CodeOf(err); c == connect.CodeInvalidArgument || c == connect.CodeAborted {
					return err // bad input, or the caller's "outcome unknown"
				}
			}
		}
		last = err
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
}

func (r *router) put(ctx context.Context, k, v []byte) error {
	return r.call(ctx, k, func(kv flaredbv1connect.KVServiceClient, rc *flaredbv1.Context) error {
		resp, err := kv.Put(ctx, connect.NewRequest(&flaredbv1.PutRequest{Context: rc, Key: k, Value: v}))
		if err != nil {
			return err
		}
		if resp.Msg.GetRegionError() != nil {
			return errRouting
		}
		return nil
	})
}

func (r *router) get(ctx context.Context, k []byte) ([]byte, bool, error) {
	var val []byte
	var found bool
	err := r.call(ctx, k, func(kv flaredbv1connect.KVServiceClient, rc *flaredbv1.Context) error {
		resp, err := kv.Get(ctx, connect.NewRequest(&flaredbv1.GetRequest{Context: rc, Key: k}))
		if err != nil {
			return err
		}
		if resp.Msg.GetRegionError() != nil {
			return errRouting
		}
		val, found = resp.Msg.GetValue(), !resp.Msg.GetNotFound()
		return nil
	})
	return val, found, err
}

func regionMap(t *testing.T, addr string) []string {
	t.Helper()
	c := flaredbv1connect.NewAdminServiceClient(http.DefaultClient, "http://"+addr)
	resp, err := c.ListRegions(context.Background(), connect.NewRequest(&flaredbv1.ListRegionsRequest{}))
	if err != nil {
		return nil
	}
	var out []string
	for _, st := range resp.Msg.GetRegions() {
		r := st.GetRegion()
		out = append(out, fmt.Sprintf("%d[%q,%q)v%d", r.GetId(), r.GetStartKey(), r.GetEndKey(), r.GetEpoch().GetVersion()))
	}
	sort.Strings(out)
	return out
}

// TestKillAllStoresAndPDLosesNoAcknowledgedWrite runs Chainfire, PD and
// three store processes; PD's replica checker grows the first region to
// three replicas, writers make the regions split, then every store and PD
// are killed with SIGKILL while writes are in flight. After a restart
// every acknowledged write is readable, the stores agree on the region map
// they had, PD's routing table (reloaded from Chainfire) is that map, and
// a CAS counter holds exactly its acknowledged increments (plus at most
// the ones whose outcome the kill left unknown): nothing applied twice.
func TestKillAllStoresAndPDLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chainfire, PD and three store processes")
	}
	bin := buildStore(t)
	pdBin := buildCmd(t, "flaredb-pd")
	cf := pdtest.StartChainfire(t)
	pdAddr := servertest.FreeAddr(t)
	pdProc := &storeProc{addr: pdAddr, args: []string{"--listen-addr", pdAddr, "--chainfire-endpoints", cf.Endpoint, "--log-level", "warn"}}
	pdProc.start(t, pdBin)
	servertest.WaitReady(t, pdAddr)

	stores := make([]*storeProc, 3)
	for i := range stores {
		addr := servertest.FreeAddr(t)
		stores[i] = &storeProc{addr: addr, args: []string{
			"--name", fmt.Sprintf("store-%d", i+1), "--listen-addr", addr, "--raft-addr", servertest.FreeAddr(t),
			"--data-dir", t.TempDir(), "--pd-endpoints", pdAddr, "--region-split-keys", "400",
			"--split-check-interval", "200ms", "--store-heartbeat-interval", "200ms",
			"--region-heartbeat-interval", "200ms", "--election-timeout", "500ms", "--log-level", "warn",
		}}
		stores[i].start(t, bin)
		if i == 0 {
			servertest.WaitReady(t, addr) // the first store bootstraps the cluster
		}
	}
	t.Cleanup(func() {
		for i, s := range stores {
			s.kill()
			if t.Failed() {
				t.Logf("store %d log:\n%s", i+1, s.log.String())
			}
		}
		pdProc.kill()
		if t.Failed() {
			t.Logf("pd log:\n%s", pdProc.log.String())
		}
	})
	pd := flaredbv1connect.NewPDServiceClient(http.DefaultClient, "http://"+pdAddr)
	r := &router{pd: pd, addrs: map[uint64]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	waitUntil(t, "the first region has three replicas", func() bool {
		resp, err := pd.GetRegion(ctx, connect.NewRequest(&flaredbv1.GetRegionRequest{Key: []byte("a")}))
		return err == nil && len(resp.Msg.GetRegion().GetPeers()) == 3
	})

	var (
		mu      sync.Mutex
		acked   = map[string][]byte{}
		stop    atomic.Bool
		wg      sync.WaitGroup
		casOK   atomic.Int64
		casLost atomic.Int64
	)
	counter := []byte("counter")
	if err := r.put(ctx, counter, binary.BigEndian.AppendUint64(nil, 0)); err != nil {
		t.Fatal(err)
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				k := []byte(fmt.Sprintf("k%d-%06d", w, i))
				v := []byte(fmt.Sprintf("v%d", i))
				wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
				err := r.put(wctx, k, v)
				wcancel()
				if err == nil {
					mu.Lock()
					acked[string(k)] = v
					mu.Unlock()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
			cur, _, err := r.get(cctx, counter)
			if err != nil || len(cur) != 8 {
				ccancel()
				continue
			}
			next := binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(cur)+1)
			var swapped bool
			err = r.call(cctx, counter, func(kv flaredbv1connect.KVServiceClient, rc *flaredbv1.Context) error {
				resp, err := kv.CompareAndSwap(cctx, connect.NewRequest(&flaredbv1.CompareAndSwapRequest{Context: rc, Key: counter, PreviousValue: cur, Value: next}))
				if err != nil {
					return connect.NewError(connect.CodeAborted, err) // not retried: the outcome may be unknown
				}
				if resp.Msg.GetRegionError() != nil {
					return errRouting // rejected before the log: safe to retry
				}
				swapped = resp.Msg.GetSucceeded()
				return nil
			})
			ccancel()
			switch {
			case err != nil && connect.CodeOf(err) == connect.CodeAborted:
				casLost.Add(1)
			case err == nil && swapped:
				casOK.Add(1)
			}
		}
	}()

	waitUntil(t, "writes and splits", func() bool {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		return n > 1500 && len(regionMap(t, stores[0].addr)) >= 3
	})
	before := regionMap(t, stores[0].addr)
	for _, s := range stores {
		s.kill()
	}
	pdProc.kill()
	stop.Store(true)
	wg.Wait()

	restarted := time.Now()
	pdProc.start(t, pdBin)
	servertest.WaitReady(t, pdAddr)
	for _, s := range stores {
		s.start(t, bin)
	}
	for _, s := range stores {
		servertest.WaitReady(t, s.addr)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, _, err := r.get(ctx, counter); err != nil {
		t.Fatal(err)
	}
	t.Logf("first read served %v after the restart", time.Since(restarted).Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	for k, v := range acked {
		got, found, err := r.get(ctx, []byte(k))
		if err != nil || !found || !bytes.Equal(got, v) {
			t.Fatalf("acknowledged %q=%q, after restart %q found=%v err=%v", k, v, got, found, err)
		}
	}
	got, _, err := r.get(ctx, counter)
	if err != nil {
		t.Fatal(err)
	}
	if n := int64(binary.BigEndian.Uint64(got)); n < casOK.Load() || n > casOK.Load()+casLost.Load() {
		t.Fatalf("counter %d after %d acknowledged and %d unknown increments", n, casOK.Load(), casLost.Load())
	}
	checkScans(ctx, t, pdAddr, acked)
	after := regionMap(t, stores[0].addr)
	if !containsAll(after, before) {
		t.Fatalf("region map before the kill %v, after restart %v", before, after)
	}
	for _, s := range stores[1:] {
		waitUntil(t, "stores agree on the region map", func() bool {
			return fmt.Sprint(regionMap(t, s.addr)) == fmt.Sprint(regionMap(t, stores[0].addr))
		})
	}
	waitUntil(t, "PD's routing table matches the stores' region map", func() bool {
		return fmt.Sprint(pdRegionMap(ctx, pd)) == fmt.Sprint(regionMap(t, stores[0].addr))
	})
	t.Logf("%d acknowledged writes and %d CAS increments survived kill -9 of every store and PD; %d regions; all verified %v after the restart",
		len(acked), casOK.Load(), len(after), time.Since(restarted).Round(time.Millisecond))
}

// pdRegionMap is PD's routing table in regionMap's format.
func pdRegionMap(ctx context.Context, pd flaredbv1connect.PDServiceClient) []string {
	resp, err := pd.ScanRegions(ctx, connect.NewRequest(&flaredbv1.ScanRegionsRequest{}))
	if err != nil {
		return nil
	}
	var out []string
	for _, ri := range resp.Msg.GetRegions() {
		r := ri.GetRegion()
		out = append(out, fmt.Sprintf("%d[%q,%q)v%d", r.GetId(), r.GetStartKey(), r.GetEndKey(), r.GetEpoch().GetVersion()))
	}
	sort.Strings(out)
	return out
}

// containsAll: every region of before is in after, unchanged or split
// further (a split committed just before the kill is applied on restart,
// keeping the parent's id with a higher version and a narrower range).
func containsAll(after, before []string) bool {
	type reg struct {
		start, end string
		version    int
	}
	parse := func(list []string) map[int]reg {
		out := map[int]reg{}
		for _, s := range list {
			var id int
			var r reg
			if _, err := fmt.Sscanf(s, "%d[%q,%q)v%d", &id, &r.start, &r.end, &r.version); err == nil {
				out[id] = r
			}
		}
		return out
	}
	a := parse(after)
	for id, b := range parse(before) {
		r, ok := a[id]
		if !ok || r.version < b.version || r.start < b.start || (b.end != "" && (r.end == "" || r.end > b.end)) {
			return false
		}
	}
	return len(a) >= len(before)
}

// checkScans scans the whole key space with the exported client, forwards
// and backwards, across every region boundary: keys strictly ordered (no
// duplicate), every acknowledged key present with its value, and the
// reverse scan the exact mirror of the forward one.
func checkScans(ctx context.Context, t *testing.T, pdAddr string, acked map[string][]byte) {
	t.Helper()
	cl, err := client.New([]string{pdAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fwd, err := cl.Scan(ctx, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := cl.Scan(ctx, nil, nil, 0, client.Reverse())
	if err != nil {
		t.Fatal(err)
	}
	if len(fwd) != len(rev) {
		t.Fatalf("forward scan %d pairs, reverse %d", len(fwd), len(rev))
	}
	seen := map[string][]byte{}
	for i, kv := range fwd {
		if i > 0 && bytes.Compare(fwd[i-1].Key, kv.Key) >= 0 {
			t.Fatalf("scan out of order or duplicated at %q after %q", kv.Key, fwd[i-1].Key)
		}
		if r := rev[len(rev)-1-i]; !bytes.Equal(r.Key, kv.Key) {
			t.Fatalf("reverse scan has %q where the forward scan has %q", r.Key, kv.Key)
		}
		seen[string(kv.Key)] = kv.Value
	}
	for k, v := range acked {
		if got, ok := seen[k]; !ok || !bytes.Equal(got, v) {
			t.Fatalf("scan lacks acknowledged %q=%q (got %q)", k, v, got)
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
