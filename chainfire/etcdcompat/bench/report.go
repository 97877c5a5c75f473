package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// WriteTable prints one line per row: each implementation's median QPS,
// p50 and p99 across rounds, then two ratios where above 1.0 means
// Chainfire is better: its QPS over etcd's, and etcd's p50 over its own.
// For the watch row QPS is events delivered per second, set by the put
// rate, so the latency ratio is the one that matters.
//
// With a baseline the table also has the chainfire-before cluster's figures
// and its ratios to etcd, before the current build's.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	baseline := len(rep.Systems) > 2
	if baseline {
		fmt.Fprintln(tw, "row\tetcd QPS\tp50\tp99\tbefore QPS\tp50\tp99\tchainfire QPS\tp50\tp99\tQPS before/etcd\tQPS cf/etcd\tp50 etcd/before\tp50 etcd/cf\tcpu/op etcd\tbefore\tcf\t")
	} else {
		fmt.Fprintln(tw, "row\tetcd QPS\tp50\tp99\tchainfire QPS\tp50\tp99\tQPS cf/etcd\tp50 etcd/cf\tcpu/op etcd\tcf\t")
	}
	for _, row := range rep.Rows {
		e := summarizeRounds(rep.Results[row][cluster.Etcd])
		c := summarizeRounds(rep.Results[row][cluster.Chainfire])
		if baseline {
			b := summarizeRounds(rep.Results[row][ChainfireBefore])
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row, cells(e), cells(b), cells(c),
				ratio(b.QPS, e.QPS, b, e), ratio(c.QPS, e.QPS, c, e),
				ratio(float64(e.P50), float64(b.P50), b, e), ratio(float64(e.P50), float64(c.P50), c, e),
				cpuCell(e), cpuCell(b), cpuCell(c))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row, cells(e), cells(c), ratio(c.QPS, e.QPS, c, e), ratio(float64(e.P50), float64(c.P50), c, e),
			cpuCell(e), cpuCell(c))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, row := range rep.Rows {
		for _, impl := range rep.Systems {
			s := summarizeRounds(rep.Results[row][impl])
			switch {
			case s.Rounds == 0:
				fmt.Fprintf(w, "%s %s: %s\n", impl, row, s.Skip)
			case s.Errors > 0:
				fmt.Fprintf(w, "%s %s: %d failed operations across rounds\n", impl, row, s.Errors)
			}
		}
	}
	return nil
}

// cpuCell is the cluster's CPU per operation in µs, "-" when not measured.
func cpuCell(s Summary) string {
	if s.Rounds == 0 || s.CPUPerOp == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fµs", s.CPUPerOp)
}

func cells(s Summary) string {
	if s.Rounds == 0 {
		return "-\t-\t-"
	}
	return fmt.Sprintf("%.0f\t%s\t%s", s.QPS, ms(s.P50), ms(s.P99))
}

func ratio(num, den float64, c, e Summary) string {
	if c.Rounds == 0 || e.Rounds == 0 || den == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", num/den)
}

// ms prints a latency in milliseconds with enough digits for
// sub-millisecond reads.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
