package client_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/client"
	"github.com/photoncloud/core/flaredb/internal/app"
	"github.com/photoncloud/core/flaredb/internal/pd/pdapptest"
	"github.com/photoncloud/core/flaredb/internal/pd/pdtest"
	"github.com/photoncloud/core/pkg/servertest"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

func TestMain(m *testing.M) { os.Exit(pdtest.Main(m)) }

// TestFullStack runs the real thing: a Chainfire process, a PD keeping its
// state there, and three stores that bootstrap through PD, split as they
// fill and get their replicas from PD's replica checker. The client writes
// enough to split the key space many times, then every key must be
// readable and every scan, forwards and backwards, across region
// boundaries must return the keys in order with no duplicate or gap.
func TestFullStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chainfire, PD and three stores")
	}
	cf := pdtest.StartChainfire(t)
	pdProc := pdapptest.Start(t, cf.Endpoint)
	pdAddr := pdProc.Addr
	var stopStore []func()
	for i := 1; i <= 3; i++ {
		addr, raft := servertest.FreeAddr(t), servertest.FreeAddr(t)
		stopStore = append(stopStore, runStore(t, addr,
			"--name", fmt.Sprintf("store-%d", i), "--listen-addr", addr, "--raft-addr", raft,
			"--data-dir", t.TempDir(), "--pd-endpoints", pdAddr, "--log-level", "warn",
			"--region-split-keys", "150", "--split-check-interval", "200ms",
			"--store-heartbeat-interval", "300ms", "--region-heartbeat-interval", "300ms",
			"--election-timeout", "500ms"))
	}
	c, err := client.New([]string{pdAddr}, client.WithRetryBudget(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const n = 1500
	want := make([]string, 0, n)
	for i := 0; i < n; i += 50 {
		var batch []client.KV
		for j := i; j < i+50; j++ {
			k := fmt.Sprintf("key%05d", (j*7919)%n) // spread writes over the key space
			batch = append(batch, client.KV{Key: []byte(k), Value: []byte("v" + k)})
			want = append(want, k)
		}
		if err := c.BatchPut(ctx, batch); err != nil {
			t.Fatalf("BatchPut at %d: %v", i, err)
		}
	}
	sort.Strings(want)

	regions := waitRegions(ctx, t, pdAddr, 5)
	t.Logf("%d regions after %d keys", len(regions), n)

	got, err := c.Scan(ctx, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "forward scan", got, want)
	got, err = c.Scan(ctx, nil, nil, 0, client.Reverse())
	if err != nil {
		t.Fatal(err)
	}
	rev := append([]string(nil), want...)
	sort.Sort(sort.Reverse(sort.StringSlice(rev)))
	checkKeys(t, "reverse scan", got, rev)
	// A range and a limit that straddle region boundaries.
	got, err = c.Scan(ctx, []byte(want[100]), []byte(want[1300]), 700)
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "bounded scan", got, want[100:800])

	keys := make([][]byte, len(want))
	for i, k := range want {
		keys[i] = []byte(k)
	}
	pairs, err := c.BatchGet(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "batch get", pairs, want)
	for _, kv := range pairs {
		if string(kv.Value) != "v"+string(kv.Key) {
			t.Fatalf("%s = %q", kv.Key, kv.Value)
		}
	}
	res, err := c.CompareAndSwap(ctx, client.CAS{Key: []byte(want[7]), Previous: []byte("v" + want[7]), Value: []byte("swapped")})
	if err != nil || !res.Succeeded {
		t.Fatalf("CAS = %+v, %v", res, err)
	}

	// Concurrent single-key calls over every region: merged per store into
	// StoreBatch requests (the default), each answered with its own value.
	concurrentPutGet(ctx, t, c, want)

	// A store goes away while a client writes: the regions it led elect
	// new leaders and the client follows them without surfacing an error;
	// every acknowledged write is readable afterwards.
	acked := writeWhile(ctx, t, c, func() { stopStore[0]() })
	ackedKeys := make([][]byte, len(acked))
	for i, k := range acked {
		ackedKeys[i] = []byte(k)
	}
	pairs, err = c.BatchGet(ctx, ackedKeys)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != len(acked) {
		t.Fatalf("%d of %d acknowledged writes readable after a store stopped", len(pairs), len(acked))
	}
	t.Logf("%d writes acknowledged while a store stopped", len(acked))

	// PD restarts: it recovers the same routing table from Chainfire, and
	// a client with a cold cache finds every key through it.
	before := stableRegions(ctx, t, pdAddr)
	pdProc.Restart()
	after := scanRegions(ctx, t, pdAddr)
	if len(after) != len(before) {
		t.Fatalf("after PD restart %d regions, before %d", len(after), len(before))
	}
	for i := range after {
		if !proto.Equal(after[i].GetRegion(), before[i].GetRegion()) {
			t.Fatalf("after PD restart region %d is %v, before %v", i, after[i].GetRegion(), before[i].GetRegion())
		}
	}
	cold, err := client.New([]string{pdAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Close()
	got, err = cold.Scan(ctx, nil, nil, 0, client.KeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "scan after PD restart", got, append(want, acked...))
}

// runStore runs a store in-process until the test ends or the returned
// function stops it.
func runStore(t *testing.T, addr string, args ...string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := app.Command("test", "test")
	cmd.SetArgs(args)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("store %s did not stop within 30s", addr)
			}
		})
	}
	t.Cleanup(stop)
	servertest.WaitHealthy(t, addr, done)
	return stop
}

// writeWhile writes keys one at a time while disrupt runs (after a first
// second of writes) and for a second after it returned, and returns the
// keys whose writes were acknowledged. Any failed write fails the test:
// the client must ride out the disruption.
// concurrentPutGet overwrites keys from 32 goroutines with Put, then
// reads them back with concurrent Gets.
func concurrentPutGet(ctx context.Context, t *testing.T, c *client.Client, keys []string) {
	t.Helper()
	const workers = 32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(keys); i += workers {
				if err := c.Put(ctx, []byte(keys[i]), []byte("v"+keys[i])); err != nil {
					errs <- fmt.Errorf("put %s: %w", keys[i], err)
					return
				}
			}
			for i := w; i < len(keys); i += workers {
				v, ok, err := c.Get(ctx, []byte(keys[i]))
				if err != nil || !ok || string(v) != "v"+keys[i] {
					errs <- fmt.Errorf("get %s = %q, %v, %v", keys[i], v, ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func writeWhile(ctx context.Context, t *testing.T, c *client.Client, disrupt func()) []string {
	t.Helper()
	var acked []string
	stop := make(chan struct{})
	go func() {
		time.Sleep(time.Second)
		disrupt()
		time.Sleep(time.Second)
		close(stop)
	}()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return acked
		default:
		}
		k := fmt.Sprintf("live%05d", i)
		if err := c.Put(ctx, []byte(k), []byte(k)); err != nil {
			t.Fatalf("write %s during the disruption: %v", k, err)
		}
		acked = append(acked, k)
	}
}

func scanRegions(ctx context.Context, t *testing.T, pdAddr string) []*flaredbv1.RegionInfo {
	t.Helper()
	pd := flaredbv1connect.NewPDServiceClient(servertest.HTTP2Client(), "http://"+pdAddr, connect.WithGRPC())
	resp, err := pd.ScanRegions(ctx, connect.NewRequest(&flaredbv1.ScanRegionsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetRegions()
}

// stableRegions waits until the routing table stops changing (splits and
// membership changes have settled) and returns it.
func stableRegions(ctx context.Context, t *testing.T, pdAddr string) []*flaredbv1.RegionInfo {
	t.Helper()
	prev := scanRegions(ctx, t, pdAddr)
	for {
		select {
		case <-ctx.Done():
			t.Fatal("routing table never settled")
		case <-time.After(time.Second):
		}
		cur := scanRegions(ctx, t, pdAddr)
		same := len(cur) == len(prev)
		for i := 0; same && i < len(cur); i++ {
			same = proto.Equal(cur[i].GetRegion(), prev[i].GetRegion())
		}
		if same {
			return cur
		}
		prev = cur
	}
}

// BenchmarkClusterPutGet measures the client against the full stack on
// this machine: 3 stores, regions split to 8+ before timing, 64 concurrent
// callers, 8-byte keys, 256-byte values.
//
//	go test -run XXX -bench ClusterPutGet -benchtime 20000x ./flaredb/client/
func BenchmarkClusterPutGet(b *testing.B) {
	cf := pdtest.StartChainfire(b)
	pdAddr := pdapptest.StartPD(b, cf.Endpoint)
	for i := 1; i <= 3; i++ {
		addr, raft := servertest.FreeAddr(b), servertest.FreeAddr(b)
		servertest.RunCommand(b, app.Command("bench", "bench"), addr,
			"--name", fmt.Sprintf("store-%d", i), "--listen-addr", addr, "--raft-addr", raft,
			"--data-dir", b.TempDir(), "--pd-endpoints", pdAddr, "--log-level", "error",
			"--region-split-keys", "2000", "--split-check-interval", "200ms",
			"--store-heartbeat-interval", "300ms", "--region-heartbeat-interval", "300ms")
	}
	c, err := client.New([]string{pdAddr})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	const keys = 20000
	key := func(i int) []byte { return fmt.Appendf(nil, "%08d", i%keys) }
	val := make([]byte, 256)
	for i := 0; i < keys; i += 500 {
		var batch []client.KV
		for j := i; j < i+500; j++ {
			batch = append(batch, client.KV{Key: key(j), Value: val})
		}
		if err := c.BatchPut(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	waitRegionsB(ctx, b, pdAddr, 8)
	for _, op := range []string{"put", "get"} {
		b.Run(op, func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(32) // 64 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := key(int(next.Add(7919)))
					var err error
					if op == "put" {
						err = c.Put(ctx, k, val)
					} else {
						_, _, err = c.Get(ctx, k)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func waitRegionsB(ctx context.Context, b *testing.B, pdAddr string, min int) {
	pd := flaredbv1connect.NewPDServiceClient(servertest.HTTP2Client(), "http://"+pdAddr, connect.WithGRPC())
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := pd.ScanRegions(ctx, connect.NewRequest(&flaredbv1.ScanRegionsRequest{}))
		if err == nil && len(resp.Msg.GetRegions()) >= min {
			full := true
			for _, r := range resp.Msg.GetRegions() {
				full = full && len(r.GetRegion().GetPeers()) == 3
			}
			if full {
				b.Logf("%d regions", len(resp.Msg.GetRegions()))
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Fatalf("fewer than %d fully replicated regions after 2 minutes", min)
}

// waitRegions waits until PD knows at least min regions and every region
// has three peers (the replica checker grew them), and returns them.
func waitRegions(ctx context.Context, t *testing.T, pdAddr string, min int) []*flaredbv1.RegionInfo {
	t.Helper()
	pd := flaredbv1connect.NewPDServiceClient(servertest.HTTP2Client(), "http://"+pdAddr, connect.WithGRPC())
	var last []*flaredbv1.RegionInfo
	for {
		resp, err := pd.ScanRegions(ctx, connect.NewRequest(&flaredbv1.ScanRegionsRequest{}))
		if err == nil {
			last = resp.Msg.GetRegions()
			ok := len(last) >= min
			for _, r := range last {
				ok = ok && len(r.GetRegion().GetPeers()) == 3
			}
			if ok {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("regions never reached %d with 3 peers each; last: %v", min, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func checkKeys(t *testing.T, what string, got []client.KV, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d keys, want %d", what, len(got), len(want))
	}
	for i := range got {
		if string(got[i].Key) != want[i] {
			t.Fatalf("%s: key %d is %q, want %q", what, i, got[i].Key, want[i])
		}
	}
}
