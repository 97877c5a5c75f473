package bench

import (
	"slices"
	"time"
)

// Result is one row's figures for one implementation in one round.
type Result struct {
	Ops      int           // operations (or events) completed in the window
	Errors   int           // operations that failed
	Elapsed  time.Duration // measured window
	P50, P99 time.Duration
	// Skip, when set, says why the row could not run (the server answered
	// Unimplemented, or the row failed); the figures are then empty.
	Skip string
	// LastError is the last failed operation's error, if any failed.
	LastError string
	// ServerCPU is the CPU time the cluster's three processes used during
	// the window (0 when not measured: the watch row).
	ServerCPU time.Duration
}

// CPUPerOp is the cluster's CPU time per completed operation in
// microseconds, 0 when not measured.
func (r Result) CPUPerOp() float64 {
	if r.Ops == 0 || r.ServerCPU <= 0 {
		return 0
	}
	return float64(r.ServerCPU.Microseconds()) / float64(r.Ops)
}

// QPS is completed operations per second.
func (r Result) QPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// summarize sorts samples in place and fills a Result for the window.
func summarize(samples []time.Duration, errs int, elapsed time.Duration) Result {
	slices.Sort(samples)
	return Result{
		Ops:     len(samples),
		Errors:  errs,
		Elapsed: elapsed,
		P50:     percentile(samples, 0.50),
		P99:     percentile(samples, 0.99),
	}
}

// percentile returns the nearest-rank q-quantile of sorted samples.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted)) + 0.999999) // ceil without float noise
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Summary is the medians of one row's figures across rounds.
type Summary struct {
	QPS      float64
	P50, P99 time.Duration
	CPUPerOp float64 // server CPU µs per operation; 0 when not measured
	Errors   int     // total across rounds
	Rounds   int     // rounds that produced figures
	Skip     string  // set when no round produced figures
}

// summarizeRounds takes the median of each figure across the rounds that
// ran; each figure's median is taken on its own.
func summarizeRounds(rs []Result) Summary {
	var (
		s        Summary
		qps      []float64
		p50, p99 []time.Duration
		cpu      []float64
	)
	for _, r := range rs {
		s.Errors += r.Errors
		if r.Skip != "" {
			s.Skip = r.Skip
			continue
		}
		qps = append(qps, r.QPS())
		p50 = append(p50, r.P50)
		p99 = append(p99, r.P99)
		cpu = append(cpu, r.CPUPerOp())
	}
	s.Rounds = len(qps)
	if s.Rounds == 0 {
		return s
	}
	s.Skip = ""
	s.QPS = median(qps)
	s.P50 = median(p50)
	s.P99 = median(p99)
	s.CPUPerOp = median(cpu)
	return s
}

type number interface{ ~float64 | ~int64 }

// median of xs (the mean of the middle two for an even count).
func median[T number](xs []T) T {
	ys := slices.Clone(xs)
	slices.Sort(ys)
	n := len(ys)
	if n%2 == 1 {
		return ys[n/2]
	}
	return (ys[n/2-1] + ys[n/2]) / 2
}
