package authzbench

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Result summarises a load run.
type Result struct {
	Decisions int
	Errors    int
	FirstErr  error // the first error seen, if any
	Allowed   int
	Elapsed   time.Duration
	P50, P99  time.Duration
	Max       time.Duration
	// CPU is the process's user+system CPU time during the run (client
	// and server alike when both run here): unlike throughput, it does
	// not depend on what else the machine is doing.
	CPU time.Duration
	// ServerCPU is the IAM process's CPU time during the run, when it runs
	// in a process of its own (then CPU is the client's alone).
	ServerCPU time.Duration
}

// PerSecond is the throughput.
func (r Result) PerSecond() float64 { return float64(r.Decisions) / r.Elapsed.Seconds() }

// Ask answers one question.
type Ask func(ctx context.Context, q Question) (allowed bool, err error)

// Run asks every question once, with the given number of concurrent
// workers, recording each call's latency.
func Run(ctx context.Context, qs []Question, workers int, ask Ask) Result {
	var next atomic.Int64
	lat := make([]time.Duration, len(qs))
	var errs, allowed atomic.Int64
	var firstErr sync.Once
	var first error
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(qs) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				ok, err := ask(ctx, qs[i])
				lat[i] = time.Since(t0)
				if err != nil {
					errs.Add(1)
					firstErr.Do(func() { first = err })
				} else if ok {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	res := Result{Decisions: len(qs), Errors: int(errs.Load()), Allowed: int(allowed.Load()), Elapsed: time.Since(start),
		CPU: cpuTime() - cpu0, FirstErr: first}
	slices.Sort(lat)
	res.P50, res.P99, res.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	return res
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
