// Command bench compares Chainfire with etcd 3.7 on this machine: it starts
// a 3-member cluster of each on 127.0.0.1 and runs the same clientv3
// workload against both, printing a table of medians across rounds. See
// docs/bench-chainfire.md and `make bench-chainfire`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/photoncloud/core/chainfire/etcdcompat/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	o := bench.DefaultOptions()
	var clients, rows, profileRows string
	var quiet bool
	flag.IntVar(&o.Rounds, "rounds", o.Rounds, "rounds per row and implementation (the table shows medians)")
	flag.DurationVar(&o.Duration, "duration", o.Duration, "measured window of each row")
	flag.DurationVar(&o.Warmup, "warmup", o.Warmup, "unmeasured time before each window")
	flag.StringVar(&clients, "clients", "1,64", "comma-separated client counts of the KV rows (the largest also runs lease keepalive)")
	flag.IntVar(&o.Conns, "conns", o.Conns, "connections the clients share")
	flag.IntVar(&o.Watchers, "watchers", o.Watchers, "watchers of the watch latency row")
	flag.Float64Var(&o.PutRate, "put-rate", o.PutRate, "puts per second of the watch latency row")
	flag.StringVar(&rows, "rows", "all", "comma-separated rows: put,range-lin,range-ser,txn-put,watch,lease-keepalive")
	flag.BoolVar(&o.FirstLeader, "first-leader", false, "send the first connection (all of a 1-client row) to the leader instead of a follower")
	flag.StringVar(&o.ProfileDir, "profile-dir", "", "write CPU profiles of every Chainfire member during the last round of -profile-rows here")
	flag.StringVar(&profileRows, "profile-rows", "all", "rows to profile when -profile-dir is set")
	flag.StringVar(&o.Baseline, "baseline-bin", "", "also run this Chainfire binary (an earlier build) as a third cluster, chainfire-before, in the same rounds")
	flag.BoolVar(&quiet, "q", false, "do not print progress and per-round figures")
	flag.Parse()

	var err error
	if o.Clients, err = parseInts(clients); err != nil {
		return fmt.Errorf("-clients: %w", err)
	}
	if o.Kinds, err = bench.ParseKinds(rows); err != nil {
		return fmt.Errorf("-rows: %w", err)
	}
	if o.ProfileRows, err = bench.ParseKinds(profileRows); err != nil {
		return fmt.Errorf("-profile-rows: %w", err)
	}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	if !quiet {
		o.Log = os.Stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bins, err := bench.BuildBinaries(ctx)
	defer bins.Remove()
	if err != nil {
		return err
	}
	// The cluster harness reads the binaries from the environment.
	if err := os.Setenv("CHAINFIRE_BIN", bins.Chainfire); err != nil {
		return err
	}
	if err := os.Setenv("ETCD_BIN", bins.Etcd); err != nil {
		return err
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Printf("rounds=%d duration=%v warmup=%v conns=%d watchers=%d put-rate=%g leaders: etcd m%d, chainfire m%d\n",
		o.Rounds, o.Duration, o.Warmup, o.Conns, o.Watchers, o.PutRate, rep.Leaders["etcd"], rep.Leaders["chainfire"])
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
