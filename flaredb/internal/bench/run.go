package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// Options configure a comparison run.
type Options struct {
	Load   Load
	Rounds int // windows per (system, op); the table shows medians
	Conns  int // etcd/Chainfire client connections the workers share
	// FlareClients is how many FlareDB clients the workers share (each
	// has one HTTP/2 connection per store and its own coalescing queues).
	FlareClients int
	Regions      []int // FlareDB region counts, measured in this order
	Ops          []Op
	Baselines    bool      // also run etcd and Chainfire
	Dir          string    // data and logs
	Log          io.Writer // progress; nil for none
	// ProfileDir, when set, receives CPU profiles of every store during
	// FlareDB's last round.
	ProfileDir string
}

// DefaultOptions is the load: 64 clients, 8-byte keys, 256-byte
// values, 1/8/64 regions.
func DefaultOptions() Options {
	return Options{
		Load:   Load{Clients: 64, Keys: 20000, ValueLen: 256, Warmup: time.Second, Duration: 4 * time.Second},
		Rounds: 3, Conns: 8, FlareClients: 1, Regions: []int{1, 8, 64},
		Ops: []Op{OpPut, OpGet, OpScan}, Baselines: true,
	}
}

func (o Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Compare starts every system and measures them; see package doc.
func Compare(ctx context.Context, bins *Binaries, o Options) (*Report, error) {
	rep := newReport(o)
	var bases []*baseline
	if o.Baselines {
		for _, s := range []struct{ name, bin string }{{"etcd", bins.Etcd}, {"chainfire", bins.Chainfire}} {
			b, err := startBaseline(ctx, s.name, s.bin, o)
			if err != nil {
				return nil, err
			}
			defer b.stop()
			bases = append(bases, b)
		}
	}
	o.logf("starting FlareDB (Chainfire, PD, 3 stores)")
	fc, err := startFlareCluster(ctx, bins, mkdir(o.Dir, "flaredb"), flareOptions{regionHeartbeat: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	defer fc.stop()
	if err := fc.waitSettled(ctx, 1, 3*time.Minute); err != nil {
		return nil, err
	}
	if err := fc.preload(ctx, o.Load.Keys, o.Load.ValueLen); err != nil {
		return nil, err
	}
	conns, err := fc.conns(o.FlareClients)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	slot := 0 // baselines run in every len(Regions)-th round, spread over the phases
	for _, n := range o.Regions {
		o.logf("splitting FlareDB into %d regions", n)
		if err := fc.splitInto(ctx, n, o.Load.Keys); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("flaredb-%dr", n)
		for r := 0; r < o.Rounds; r++ {
			for _, op := range o.Ops {
				wait := func() {}
				if o.ProfileDir != "" && r == o.Rounds-1 {
					wait = fc.profileStores(ctx, o.ProfileDir, fmt.Sprintf("%s-%s", name, op), o.Load.Warmup+o.Load.Duration)
				}
				rep.add(name, op, o.measure(ctx, name, conns, op, fc.pids()))
				wait()
			}
			if slot%len(o.Regions) == 0 {
				for _, b := range bases {
					for _, op := range o.Ops {
						rep.add(b.name, op, o.measure(ctx, b.name, b.conns, op, b.c.pids()))
					}
				}
			}
			slot++
		}
	}
	return rep, ctx.Err()
}

func (o Options) measure(ctx context.Context, name string, conns []conn, op Op, pids []int) Result {
	res := run(ctx, conns, op, o.Load, pids)
	o.logf("  %-13s %-8s %9.0f ops/s  p50 %-9v p99 %-9v cpu/op %-8v errors %d %v", name, op, res.Rate,
		res.P50.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond), res.CPUPerOp.Round(time.Microsecond),
		res.Errors, errOrEmpty(res.First))
	return res
}

func errOrEmpty(err error) any {
	if err == nil {
		return ""
	}
	return err
}

// baseline is a running etcd or Chainfire cluster with its connections.
type baseline struct {
	name  string
	c     *etcdCluster
	conns []conn
}

func startBaseline(ctx context.Context, name, bin string, o Options) (*baseline, error) {
	o.logf("starting %s (3 members)", name)
	c, err := startEtcdCluster(ctx, name, bin, mkdir(o.Dir, name))
	if err != nil {
		return nil, err
	}
	if err := c.preload(ctx, o.Load.Keys, o.Load.ValueLen); err != nil {
		c.stop()
		return nil, err
	}
	return &baseline{name: name, c: c, conns: c.conns(o.Conns)}, nil
}

func (b *baseline) stop() {
	closeAll(b.conns)
	b.c.stop()
}

func mkdir(parent, name string) string {
	dir := parent + "/" + name
	_ = os.MkdirAll(dir, 0o755)
	return dir
}
