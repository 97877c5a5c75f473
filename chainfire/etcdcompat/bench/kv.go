package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// keySpace is how many distinct keys writes spread over.
	keySpace = 100_000
	// readKeys is how many keys are loaded before the read rows run; reads
	// pick among them so every range returns one 256-byte value.
	readKeys  = 1000
	valueSize = 256
)

// key returns the 8-byte key number i.
func key(i int) string { return fmt.Sprintf("%08x", i) }

func newValue() string {
	b := make([]byte, valueSize)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

// preload writes the keys the read rows fetch.
func preload(ctx context.Context, t *target) error {
	val := newValue()
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	const workers = 16
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli := t.conn(w, workers)
			for i := w; i < readKeys; i += workers {
				if _, err := cli.Put(ctx, key(i), val); err != nil {
					errOnce.Do(func() { first = fmt.Errorf("bench: preload %s: %w", t.impl, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// op is one request of a KV workload; rng is the worker's own.
type op func(ctx context.Context, cli *clientv3.Client, rng *rand.Rand) error

func kvOp(k Kind) op {
	val := newValue()
	switch k {
	case Put:
		return func(ctx context.Context, cli *clientv3.Client, rng *rand.Rand) error {
			_, err := cli.Put(ctx, key(rng.IntN(keySpace)), val)
			return err
		}
	case RangeLin:
		return func(ctx context.Context, cli *clientv3.Client, rng *rand.Rand) error {
			return expectOne(cli.Get(ctx, key(rng.IntN(readKeys))))
		}
	case RangeSer:
		return func(ctx context.Context, cli *clientv3.Client, rng *rand.Rand) error {
			return expectOne(cli.Get(ctx, key(rng.IntN(readKeys)), clientv3.WithSerializable()))
		}
	case TxnPut:
		return func(ctx context.Context, cli *clientv3.Client, rng *rand.Rand) error {
			_, err := cli.Txn(ctx).Then(clientv3.OpPut(key(rng.IntN(keySpace)), val)).Commit()
			return err
		}
	}
	return nil
}

func expectOne(resp *clientv3.GetResponse, err error) error {
	if err != nil {
		return err
	}
	if len(resp.Kvs) != 1 {
		return fmt.Errorf("range returned %d keys, want 1", len(resp.Kvs))
	}
	return nil
}

// window is the measured part of a run: operations that start before
// from, or end after to, are not counted.
type window struct{ from, to time.Time }

func (w window) holds(start, end time.Time) bool { return !start.Before(w.from) && !end.After(w.to) }

// runClients runs clients workers, each calling do in a loop until the
// window closes, and summarizes the operations inside the window.
func runClients(ctx context.Context, o Options, clients int, do func(ctx context.Context, i int, rng *rand.Rand) error) Result {
	w := window{from: time.Now().Add(o.Warmup)}
	w.to = w.from.Add(o.Duration)
	// A request still stuck well after the window is abandoned.
	ctx, cancel := context.WithDeadline(ctx, w.to.Add(15*time.Second))
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		samples []time.Duration
		errs    int
		lastErr error
	)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			var mine []time.Duration
			myErrs := 0
			var myErr error
			for ctx.Err() == nil {
				start := time.Now()
				if !start.Before(w.to) {
					break
				}
				err := do(ctx, i, rng)
				end := time.Now()
				if !w.holds(start, end) {
					continue
				}
				if err != nil {
					myErrs++
					myErr = err
					continue
				}
				mine = append(mine, end.Sub(start))
			}
			mu.Lock()
			samples = append(samples, mine...)
			errs += myErrs
			if myErr != nil {
				lastErr = myErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := summarize(samples, errs, o.Duration)
	if len(samples) == 0 && lastErr != nil {
		r.Skip = skipReason(lastErr)
	}
	if lastErr != nil {
		r.LastError = lastErr.Error()
	}
	return r
}

// skipReason names why a row produced no figures.
func skipReason(err error) string {
	if isUnimplemented(err) {
		return "unsupported: " + err.Error()
	}
	return "error: " + err.Error()
}

func isUnimplemented(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if status.Code(e) == codes.Unimplemented {
			return true
		}
	}
	return status.Code(err) == codes.Unimplemented
}

// runClientsCPU is runClients, also measuring t's CPU during the window
// (which runClients starts a warmup after it is called).
func runClientsCPU(ctx context.Context, t *target, o Options, clients int, do func(ctx context.Context, i int, rng *rand.Rand) error) Result {
	cpu := measureCPU(ctx, t, o.Warmup, o.Duration)
	r := runClients(ctx, o, clients, do)
	r.ServerCPU = cpu()
	return r
}

func runKV(ctx context.Context, t *target, o Options, row Row) Result {
	do := kvOp(row.Kind)
	return runClientsCPU(ctx, t, o, row.Clients, func(ctx context.Context, i int, rng *rand.Rand) error {
		return do(ctx, t.conn(i, row.Clients), rng)
	})
}
