// Command iam-authz-bench measures IAM authorization decisions: it seeds a
// policy of 10,000 bindings over 1,000 resources (by default), then drives
// Authorize in process and over loopback RPC with the decision cache
// answering (hits) and with it off (misses), and prints throughput and
// latency percentiles.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	"github.com/photoncloud/core/iam/internal/authzbench"
)

func main() {
	n := flag.Int("n", 200_000, "decisions per run")
	workers := flag.Int("workers", 32, "concurrent callers over RPC")
	conns := flag.Int("conns", 2, "HTTP/2 connections over RPC (-transport h2c)")
	bindings := flag.Int("bindings", 10_000, "bindings to seed")
	connectProto := flag.Bool("connect", false, "use the Connect protocol instead of gRPC")
	only := flag.String("only", "", "run only: inprocess or rpc")
	transport := flag.String("transport", "sdk", "sdk: iamsdk.HTTP1Client (Connect over pooled HTTP/1.1 keep-alive connections, one per caller); "+
		"h2c: net/http HTTP/2 cleartext on -conns connections (gRPC unless -connect); http1: net/http's HTTP/1.1 Transport (Connect)")
	get := flag.Bool("get", false, "send Authorize as Connect GET requests (no request body)")
	serverBin := flag.String("server-bin", "", "run IAM from this iam binary in a process of its own (reports its CPU separately)")
	batch := flag.Int("batch", 50, "also measure BatchAuthorize with this many questions per call (0: skip); latency is per call")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (client and server) to this file")
	flag.Parse()
	ro := authzbench.RPCOptions{Conns: *conns, Connect: *connectProto, GET: *get}
	switch *transport {
	case "sdk":
		ro.SDKHTTP1 = true
	case "http1":
		ro.HTTP1 = true
	case "h2c":
	default:
		fmt.Fprintln(os.Stderr, "iam-authz-bench: -transport must be sdk, h2c or http1")
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "iam-authz-bench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "iam-authz-bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *n, *workers, *bindings, *only, *batch, ro, *serverBin); err != nil {
		fmt.Fprintln(os.Stderr, "iam-authz-bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func line(name string, r authzbench.Result) {
	server := ""
	if r.ServerCPU > 0 {
		server = fmt.Sprintf("  server cpu %6.1fµs/decision", float64(r.ServerCPU.Nanoseconds())/1e3/float64(r.Decisions))
	}
	fmt.Printf("%-22s %9.0f decisions/s  p50 %8s  p99 %8s  max %8s  cpu %6.1fµs/decision%s  allowed %5.1f%%  errors %d\n", name, r.PerSecond(),
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond),
		float64(r.CPU.Nanoseconds())/1e3/float64(r.Decisions), server, 100*float64(r.Allowed)/float64(r.Decisions), r.Errors)
	if r.FirstErr != nil {
		fmt.Printf("  first error: %v\n", r.FirstErr)
	}
}

func run(ctx context.Context, n, workers, bindings int, only string, batch int, ro authzbench.RPCOptions, serverBin string) error {
	sh := authzbench.DefaultShape()
	sh.Bindings = bindings
	fmt.Printf("policy: %d bindings over %d resources, %d users in %d groups, %d%% conditional\n",
		sh.Bindings, sh.Orgs*sh.ProjectsPerOrg*sh.KeysPerProject, sh.Users, sh.Groups, sh.ConditionalPercent)
	modes := []struct {
		name string
		ttl  time.Duration
		ws   int
	}{{"hit", time.Hour, 1000}, {"miss", -1, 0}}
	if only != "rpc" {
		for _, m := range modes {
			dir, err := os.MkdirTemp("", "iam-authz-bench-")
			if err != nil {
				return err
			}
			ask, sd, done, err := authzbench.InProcess(ctx, dir, sh, m.ttl)
			if err != nil {
				return err
			}
			qs := sd.Questions(n, 5, m.ws)
			authzbench.Run(ctx, qs[:min(n, 5000)], 2, ask)
			line("in-process "+m.name, authzbench.Run(ctx, qs, 2, ask))
			done()
			os.RemoveAll(dir)
		}
	}
	if only == "inprocess" {
		return nil
	}
	for _, m := range modes {
		dir, err := os.MkdirTemp("", "iam-authz-bench-")
		if err != nil {
			return err
		}
		start := authzbench.Start
		if serverBin != "" {
			start = func(ctx context.Context, dir string, sh authzbench.Shape, flags ...string) (*authzbench.Server, *authzbench.Seeded, error) {
				return authzbench.StartExternal(ctx, serverBin, dir, sh, flags...)
			}
		}
		srv, sd, err := start(ctx, dir, sh, "--authz-cache-ttl", m.ttl.String())
		if err != nil {
			return err
		}
		ask, err := authzbench.RPCAsk(ctx, srv, sd, ro)
		if err != nil {
			return err
		}
		qs := sd.Questions(n, 5, m.ws)
		authzbench.Run(ctx, qs[:min(n, 5000)], workers, ask)
		cpu0 := srv.CPU()
		res := authzbench.Run(ctx, qs, workers, ask)
		res.ServerCPU = srv.CPU() - cpu0
		line(fmt.Sprintf("rpc %s (%s)", m.name, ro.Describe(workers)), res)
		if batch > 0 {
			cpu0 := srv.CPU()
			res, err := authzbench.RPCBatch(ctx, srv, sd, qs, batch, 4)
			if err != nil {
				return err
			}
			res.ServerCPU = srv.CPU() - cpu0
			line(fmt.Sprintf("rpc %s batch of %d", m.name, batch), res)
		}
		if err := srv.Stop(); err != nil {
			return err
		}
		os.RemoveAll(dir)
	}
	return nil
}
