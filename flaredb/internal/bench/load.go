package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one kind of request of the load.
type Op string

// The operations measured.
const (
	OpPut  Op = "put"
	OpGet  Op = "get"
	OpScan Op = "scan100"
)

// ScanLen is how many keys one scan reads.
const ScanLen = 100

// Load is the shape of one measured window.
type Load struct {
	Clients  int           // concurrent closed-loop clients
	Keys     int           // key space (keys exist after the preload)
	ValueLen int           // bytes per value
	Warmup   time.Duration // unmeasured start of the window
	Duration time.Duration // measured part
}

// Result is one window's outcome.
type Result struct {
	Ops    int
	Errors int
	Rate   float64       // completed operations per second
	P50    time.Duration // of the measured operations
	P99    time.Duration
	First  error // first error, if any
	// CPUPerOp is the servers' CPU time (user+system of every process of
	// the system under test) per completed operation: on a shared machine
	// it compares efficiency when throughput is bounded by other tenants.
	CPUPerOp time.Duration
}

// key is the 8-byte key number n.
func key(n int) []byte { return fmt.Appendf(nil, "%08d", n) }

// run drives op through conns with l.Clients workers (worker i uses
// conns[i%len]) and measures the window after the warmup.
func run(ctx context.Context, conns []conn, op Op, l Load, pids []int) Result {
	var (
		measuring atomic.Bool
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		lat       []time.Duration
		errs      int
		first     error
	)
	value := make([]byte, l.ValueLen)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	for w := 0; w < l.Clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := conns[w%len(conns)]
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var mine []time.Duration
			var myErrs int
			var myFirst error
			for !stop.Load() && ctx.Err() == nil {
				k := key(rng.IntN(l.Keys))
				start := time.Now()
				err := do(ctx, c, op, k, value)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					myErrs++
					if myFirst == nil {
						myFirst = err
					}
					continue
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += myErrs
			if first == nil {
				first = myFirst
			}
			mu.Unlock()
		}()
	}
	sleep(ctx, l.Warmup)
	measuring.Store(true)
	cpu0 := cpuOf(pids)
	began := time.Now()
	sleep(ctx, l.Duration)
	measuring.Store(false)
	elapsed := time.Since(began)
	cpu := cpuOf(pids) - cpu0
	stop.Store(true)
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := Result{Ops: len(lat), Errors: errs, Rate: float64(len(lat)) / elapsed.Seconds(),
		P50: quantile(lat, 0.50), P99: quantile(lat, 0.99), First: first}
	if len(lat) > 0 {
		res.CPUPerOp = time.Duration(cpu / float64(len(lat)) * float64(time.Second))
	}
	return res
}

func cpuOf(pids []int) float64 {
	var sum float64
	for _, p := range pids {
		sum += cpuSeconds(p)
	}
	return sum
}

func do(ctx context.Context, c conn, op Op, k, value []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch op {
	case OpPut:
		return c.put(ctx, k, value)
	case OpGet:
		return c.get(ctx, k)
	default:
		_, err := c.scan(ctx, k, ScanLen)
		return err
	}
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
