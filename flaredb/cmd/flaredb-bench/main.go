// Command flaredb-bench compares FlareDB with etcd 3.7 and Chainfire on
// this machine (every server a process on 127.0.0.1, the same load against
// each, medians of rounds), or measures the idle cost of many regions
// (-idle-regions). See docs/bench-flaredb.md and `make bench-flaredb`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/photoncloud/core/flaredb/client"
	"github.com/photoncloud/core/flaredb/internal/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "flaredb-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	o := bench.DefaultOptions()
	io := bench.DefaultIdleOptions()
	var regions, ops string
	var quiet, keep bool
	var storeBatching, depths string
	var cpuProfile string
	flag.IntVar(&o.Rounds, "rounds", o.Rounds, "windows per system and operation (the table shows medians)")
	flag.DurationVar(&o.Load.Duration, "duration", o.Load.Duration, "measured part of each window")
	flag.DurationVar(&o.Load.Warmup, "warmup", o.Load.Warmup, "unmeasured start of each window")
	flag.IntVar(&o.Load.Clients, "clients", o.Load.Clients, "concurrent closed-loop clients")
	flag.IntVar(&o.Load.Keys, "keys", o.Load.Keys, "key space (8-byte keys, preloaded)")
	flag.IntVar(&o.Load.ValueLen, "value-size", o.Load.ValueLen, "bytes per value")
	flag.IntVar(&o.Conns, "conns", o.Conns, "client connections the clients share, per system")
	flag.IntVar(&o.FlareClients, "flaredb-clients", o.FlareClients, "FlareDB clients the clients share (each: one connection per store)")
	flag.StringVar(&regions, "regions", "1,8,64", "FlareDB region counts (pre-split through the admin API), in order")
	flag.StringVar(&ops, "ops", "put,get,scan100", "operations: put, get, scan100")
	flag.BoolVar(&o.Baselines, "baselines", true, "also run 3-member etcd and Chainfire clusters")
	flag.IntVar(&io.Regions, "idle-regions", 0, "instead of the comparison, measure the idle cost of this many regions on 3 stores")
	flag.DurationVar(&io.Window, "idle-window", io.Window, "sampling window of the idle measurement")
	flag.StringVar(&io.StoreArgs, "store-args", "", "extra flags for every store (space-separated)")
	flag.StringVar(&o.ProfileDir, "profile-dir", "", "write CPU profiles of every store during FlareDB's last round here")
	flag.StringVar(&o.CompareStore, "compare-store", "", "another flaredb binary, run as a second FlareDB cluster in the same rounds (before/after)")
	flag.StringVar(&o.CompareName, "compare-name", "before", "name of the -compare-store cluster in the table (flaredb-<name>)")
	flag.StringVar(&storeBatching, "store-batching", "on", "FlareDB client: on (merge per store into StoreBatch), off (merge per region), both (two rows per cluster: flaredb and flaredb-perregion)")
	flag.StringVar(&depths, "store-batch-depths", "1", "with store batching: StoreBatch requests in flight per store and kind; each depth but the first adds a row flaredb-d<N>")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write the benchmark client's own CPU profile here")
	flag.BoolVar(&keep, "keep", false, "keep the data and log directory")
	flag.BoolVar(&quiet, "q", false, "do not print progress")
	flag.Parse()

	var err error
	if o.Regions, err = parseInts(regions); err != nil {
		return fmt.Errorf("-regions: %w", err)
	}
	ds, err := parseInts(depths)
	if err != nil {
		return fmt.Errorf("-store-batch-depths: %w", err)
	}
	perRegion := bench.FlareMode{Name: "perregion", Options: []client.Option{client.WithStoreBatching(false)}}
	var batched []bench.FlareMode
	for i, d := range ds {
		m := bench.FlareMode{Options: []client.Option{client.WithStoreBatchDepth(d)}}
		if i > 0 {
			m.Name = fmt.Sprintf("d%d", d)
		}
		batched = append(batched, m)
	}
	switch storeBatching {
	case "on":
		o.FlareModes = batched
	case "off":
		o.FlareModes = []bench.FlareMode{perRegion}
	case "both":
		o.FlareModes = append(batched, perRegion)
	default:
		return fmt.Errorf("-store-batching: want on, off or both, not %q", storeBatching)
	}
	o.Ops = nil
	for _, s := range strings.Split(ops, ",") {
		switch op := bench.Op(strings.TrimSpace(s)); op {
		case bench.OpPut, bench.OpGet, bench.OpScan:
			o.Ops = append(o.Ops, op)
		default:
			return fmt.Errorf("-ops: unknown %q", s)
		}
	}
	if !quiet {
		o.Log, io.Log = os.Stderr, os.Stderr
	}
	if o.Dir, err = os.MkdirTemp("", "flaredb-bench-"); err != nil {
		return err
	}
	io.Dir = o.Dir
	if keep {
		fmt.Fprintln(os.Stderr, "data and logs in", o.Dir)
	} else {
		defer os.RemoveAll(o.Dir)
	}

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := bench.RepoRoot()
	if err != nil {
		return err
	}
	if o.Log != nil {
		fmt.Fprintln(os.Stderr, "building etcd, chainfire, flaredb, flaredb-pd")
	}
	bins, err := bench.BuildBinaries(ctx, root)
	defer bins.Remove()
	if err != nil {
		return err
	}
	if io.Regions > 0 {
		res, err := bench.Idle(ctx, bins, io)
		if res != nil {
			// Print what was sampled even when regions lost their leaders
			// during the window: that is part of the cost.
			if werr := res.WriteTable(os.Stdout); err == nil {
				err = werr
			}
		}
		return err
	}
	rep, err := bench.Compare(ctx, bins, o)
	if err != nil {
		return err
	}
	fmt.Printf("\nclients=%d conns=%d keys=%d value=%dB rounds=%d window=%v+%v warmup\n\n",
		o.Load.Clients, o.Conns, o.Load.Keys, o.Load.ValueLen, o.Rounds, o.Load.Duration, o.Load.Warmup)
	return rep.WriteTable(os.Stdout)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
