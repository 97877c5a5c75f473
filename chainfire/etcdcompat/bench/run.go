package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// Options configures a run.
type Options struct {
	Rounds   int           // rounds of every row on each implementation
	Duration time.Duration // measured window of each row
	Warmup   time.Duration // unmeasured time before the window
	Clients  []int         // client counts of the KV rows
	Conns    int           // connections the clients share
	Watchers int           // watchers of the watch row
	PutRate  float64       // puts per second of the watch row
	Kinds    []Kind        // workloads to run
	// FirstLeader puts the first connection (the only one of a one-client
	// row) on the leader; by default it goes to a follower.
	FirstLeader bool
	// ProfileDir, when set, receives CPU profiles of every Chainfire member
	// taken during the last round's ProfileRows.
	ProfileDir  string
	ProfileRows []Kind
	// Baseline, when set, is another Chainfire binary (an earlier build)
	// run as a third cluster, "chainfire-before", in the same rounds, so a
	// change is measured before and after side by side with etcd.
	Baseline string
	// Log receives progress and per-round figures.
	Log io.Writer
}

// DefaultOptions finish a full run in well under ten minutes here.
func DefaultOptions() Options {
	return Options{
		Rounds: 3, Duration: 4 * time.Second, Warmup: time.Second,
		Clients: []int{1, 64}, Conns: 8, Watchers: 1000, PutRate: 20,
		Kinds: AllKinds, Log: io.Discard,
	}
}

func (o Options) validate() error {
	switch {
	case o.Rounds < 1:
		return errors.New("bench: rounds must be at least 1")
	case o.Duration <= 0:
		return errors.New("bench: duration must be positive")
	case o.Conns < 1:
		return errors.New("bench: conns must be at least 1")
	case len(o.Clients) == 0:
		return errors.New("bench: no client counts")
	case o.PutRate <= 0:
		return errors.New("bench: put rate must be positive")
	}
	for _, c := range o.Clients {
		if c < 1 {
			return fmt.Errorf("bench: client count %d", c)
		}
	}
	return nil
}

// Report is a finished run: per row, each implementation's results per
// round.
type Report struct {
	Rows    []Row
	Systems []cluster.Impl
	Results map[Row]map[cluster.Impl][]Result
	Leaders map[cluster.Impl]int
}

// ChainfireBefore labels the cluster running Options.Baseline.
const ChainfireBefore cluster.Impl = "chainfire-before"

// systems are the clusters compared, etcd first in the table.
func (o Options) systems() []cluster.Impl {
	if o.Baseline != "" {
		return []cluster.Impl{cluster.Etcd, ChainfireBefore, cluster.Chainfire}
	}
	return []cluster.Impl{cluster.Etcd, cluster.Chainfire}
}

// Run starts both clusters, runs every row o.Rounds times on each
// (alternating which goes first), and returns the results. The server
// binaries come from $CHAINFIRE_BIN and $ETCD_BIN (see BuildBinaries).
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	h := newHarnessTB("bench", o.Log)
	defer h.close()
	defer catch(&err)

	targets := map[cluster.Impl]*target{}
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	systems := o.systems()
	rep = &Report{Rows: o.rows(), Systems: systems, Results: map[Row]map[cluster.Impl][]Result{}, Leaders: map[cluster.Impl]int{}}
	for _, impl := range systems {
		start := time.Now()
		t, err := startTarget(ctx, h, impl, o)
		if err != nil {
			return nil, err
		}
		targets[impl] = t
		rep.Leaders[impl] = t.leader
		fmt.Fprintf(o.Log, "# %s: 3 members up in %v, leader m%d, member order %v\n", impl, time.Since(start).Round(time.Millisecond), t.leader, t.order)
	}
	for _, row := range rep.Rows {
		rep.Results[row] = map[cluster.Impl][]Result{}
	}
	for round := range o.Rounds {
		for ri, row := range rep.Rows {
			for _, impl := range roundOrder(systems, round+ri) {
				if err := ctx.Err(); err != nil {
					return rep, err
				}
				profile := o.ProfileDir != "" && impl == cluster.Chainfire && round == o.Rounds-1 && hasKind(o.ProfileRows, row.Kind)
				r := runRow(ctx, targets[impl], o, row, profile)
				rep.Results[row][impl] = append(rep.Results[row][impl], r)
				fmt.Fprintf(o.Log, "# round %d %-32s %-9s %s\n", round+1, row, impl, r)
			}
		}
	}
	return rep, nil
}

// roundOrder rotates which system runs a row first (with two systems it
// alternates).
func roundOrder(systems []cluster.Impl, n int) []cluster.Impl {
	k := n % len(systems)
	return append(append([]cluster.Impl(nil), systems[k:]...), systems[:k]...)
}

func hasKind(ks []Kind, k Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func runRow(ctx context.Context, t *target, o Options, row Row, profile bool) Result {
	if profile {
		stop := startProfiles(ctx, t, o, row)
		defer stop()
	}
	switch row.Kind {
	case Watch:
		return runWatch(ctx, t, o, row)
	case LeaseKeepAlive:
		return runLeaseKeepAlive(ctx, t, o, row)
	default:
		return runKV(ctx, t, o, row)
	}
}

func (r Result) String() string {
	if r.Skip != "" {
		return r.Skip
	}
	return fmt.Sprintf("%9.0f/s  p50 %-9v p99 %-9v ops %d errors %d  server cpu %.0fµs/op",
		r.QPS(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Ops, r.Errors, r.CPUPerOp()) + lastError(r)
}

func lastError(r Result) string {
	if r.LastError == "" {
		return ""
	}
	return "  last error: " + r.LastError
}
