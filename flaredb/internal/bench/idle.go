package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// IdleOptions configure the idle-cost measurement.
type IdleOptions struct {
	Regions   int           // regions to create by splitting
	Settle    time.Duration // wait after the last split before sampling
	Window    time.Duration // sampling window
	StoreArgs string        // extra store flags, space-separated
	Dir       string
	Log       io.Writer
}

// DefaultIdleOptions samples 30 s after a 20 s settle.
func DefaultIdleOptions() IdleOptions {
	return IdleOptions{Settle: 20 * time.Second, Window: 30 * time.Second}
}

// IdleResult is what one process cost over the window.
type IdleResult struct {
	Regions int
	Window  time.Duration
	Rows    []IdleRow
}

// IdleRow is one process's cost.
type IdleRow struct {
	Name           string
	CPUPercent     float64 // of one core
	Goroutines     float64
	RaftHeartbeats float64 // per second, sent by this store's region leaders
	PDHeartbeats   float64 // region heartbeats per second received (PD only)
	RSSMiB         float64
}

// Idle creates o.Regions regions on three stores, lets them settle and
// samples CPU, goroutines and heartbeat rates over o.Window.
func Idle(ctx context.Context, bins *Binaries, o IdleOptions) (*IdleResult, error) {
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	logf("starting FlareDB (Chainfire, PD, 3 stores) for %d idle regions", o.Regions)
	fc, err := startFlareCluster(ctx, bins, mkdir(o.Dir, "flaredb-idle"), flareOptions{
		regionHeartbeat: 10 * time.Second, extraStoreArgs: strings.Fields(o.StoreArgs)})
	if err != nil {
		return nil, err
	}
	defer fc.stop()
	if err := fc.waitSettled(ctx, 1, 3*time.Minute); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := fc.splitInto(ctx, o.Regions, o.Regions); err != nil {
		return nil, err
	}
	logf("%d regions with 3 replicas and a leader each after %v; settling %v", o.Regions, time.Since(start).Round(time.Second), o.Settle)
	sleep(ctx, o.Settle)

	procs := append(append([]*Proc{}, fc.stores...), fc.pd, fc.cf)
	addrs := append(append([]string{}, fc.storeAddrs...), fc.pdAddr, "")
	before := make([]sample, len(procs))
	for i, p := range procs {
		before[i] = takeSample(ctx, p, addrs[i])
	}
	t0 := time.Now()
	sleep(ctx, o.Window)
	secs := time.Since(t0).Seconds()
	res := &IdleResult{Regions: o.Regions, Window: o.Window}
	for i, p := range procs {
		after := takeSample(ctx, p, addrs[i])
		res.Rows = append(res.Rows, IdleRow{
			Name:           p.Name,
			CPUPercent:     100 * (after.cpu - before[i].cpu) / secs,
			Goroutines:     after.metrics["go_goroutines"],
			RaftHeartbeats: (after.metrics["flaredb_raft_heartbeats_sent_total"] - before[i].metrics["flaredb_raft_heartbeats_sent_total"]) / secs,
			PDHeartbeats:   (after.metrics["flaredb_pd_region_heartbeats_total"] - before[i].metrics["flaredb_pd_region_heartbeats_total"]) / secs,
			RSSMiB:         after.metrics["process_resident_memory_bytes"] / (1 << 20),
		})
	}
	if !fc.settled(ctx, o.Regions) {
		return res, fmt.Errorf("regions lost their leaders or replicas during the window")
	}
	return res, ctx.Err()
}

// WriteTable prints the idle cost as markdown.
func (r *IdleResult) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "idle cost of %d regions (3 replicas each) over %v\n\n", r.Regions, r.Window)
	b.WriteString("| process | CPU % of a core | goroutines | raft heartbeats sent/s | region heartbeats to PD/s | RSS MiB |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Rows {
		fmt.Fprintf(&b, "| %s | %.1f | %.0f | %.0f | %.1f | %.0f |\n", x.Name, x.CPUPercent, x.Goroutines, x.RaftHeartbeats, x.PDHeartbeats, x.RSSMiB)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type sample struct {
	cpu     float64 // seconds of user+system time
	metrics map[string]float64
}

func takeSample(ctx context.Context, p *Proc, addr string) sample {
	s := sample{cpu: cpuSeconds(p.Pid()), metrics: map[string]float64{}}
	if addr != "" {
		s.metrics = scrape(ctx, addr)
	}
	return s
}

// cpuSeconds reads utime+stime of pid from /proc (clock ticks of 1/100 s,
// Linux's USER_HZ).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is the state (field 3); utime and stime are fields 14, 15.
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100
}

// scrape sums each metric family's samples from a Prometheus text page.
func scrape(ctx context.Context, addr string) map[string]float64 {
	out := map[string]float64{}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		if v, err := strconv.ParseFloat(line[sp+1:], 64); err == nil {
			out[name] += v
		}
	}
	return out
}
