package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Report holds every window's result by system and operation.
type Report struct {
	systems []string
	ops     []Op
	results map[string]map[Op][]Result
}

func newReport(o Options) *Report {
	r := &Report{ops: o.Ops, results: map[string]map[Op][]Result{}}
	if o.Baselines {
		r.systems = append(r.systems, "etcd", "chainfire")
	}
	for _, n := range o.Regions {
		for _, name := range o.flareNames() {
			r.systems = append(r.systems, fmt.Sprintf("%s-%dr", name, n))
		}
	}
	return r
}

func (r *Report) add(system string, op Op, res Result) {
	if r.results[system] == nil {
		r.results[system] = map[Op][]Result{}
	}
	r.results[system][op] = append(r.results[system][op], res)
}

// Median is the median throughput and the median p99 of system's op.
func (r *Report) Median(system string, op Op) (rate float64, p99 time.Duration, ok bool) {
	rs := r.results[system][op]
	if len(rs) == 0 {
		return 0, 0, false
	}
	rates := make([]float64, len(rs))
	p99s := make([]time.Duration, len(rs))
	for i, x := range rs {
		rates[i], p99s[i] = x.Rate, x.P99
	}
	sort.Float64s(rates)
	sort.Slice(p99s, func(i, j int) bool { return p99s[i] < p99s[j] })
	return rates[len(rates)/2], p99s[len(p99s)/2], true
}

// medianCPU is the median server CPU per operation in microseconds.
func (r *Report) medianCPU(system string, op Op) float64 {
	var v []float64
	for _, x := range r.results[system][op] {
		v = append(v, float64(x.CPUPerOp)/float64(time.Microsecond))
	}
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// WriteTable prints throughput, p99 and FlareDB/etcd ratios as markdown.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| op | system | ops/s (median) | p99 ms (median) | server CPU µs/op (median) | rounds | errors | ops/s vs etcd |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, op := range r.ops {
		base, _, haveBase := r.Median("etcd", op)
		for _, s := range r.systems {
			rate, p99, ok := r.Median(s, op)
			if !ok {
				continue
			}
			errs := 0
			for _, x := range r.results[s][op] {
				errs += x.Errors
			}
			ratio := "-"
			if haveBase && base > 0 && s != "etcd" {
				ratio = fmt.Sprintf("%.2fx", rate/base)
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.2f | %.0f | %d | %d | %s |\n", op, s, rate,
				float64(p99.Microseconds())/1000, r.medianCPU(s, op), len(r.results[s][op]), errs, ratio)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
