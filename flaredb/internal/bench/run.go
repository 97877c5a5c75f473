package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/photoncloud/core/flaredb/client"
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
	// CompareStore, when set, is another flaredb store binary run as a
	// second FlareDB cluster (named flaredb-<CompareName>) beside the
	// first, measured in the same rounds, alternating which goes first:
	// before/after figures from one run.
	CompareStore string
	CompareName  string
	// FlareModes are the client configurations measured on every FlareDB
	// cluster, each with its own clients and its own row
	// (flaredb[-<Name>]-Nr). None: one row with the default client.
	FlareModes []FlareMode
}

// FlareMode is one FlareDB client configuration.
type FlareMode struct {
	Name    string // row suffix; empty for none
	Options []client.Option
}

// modes is o.FlareModes, or the default client alone.
func (o Options) modes() []FlareMode {
	if len(o.FlareModes) == 0 {
		return []FlareMode{{}}
	}
	return o.FlareModes
}

// clusterNames are the FlareDB clusters measured, in order.
func (o Options) clusterNames() []string {
	if o.CompareStore == "" {
		return []string{"flaredb"}
	}
	return []string{"flaredb-" + o.CompareName, "flaredb"}
}

// flareNames are the FlareDB rows (cluster and client mode), in order.
func (o Options) flareNames() []string {
	var out []string
	for _, c := range o.clusterNames() {
		for _, m := range o.modes() {
			out = append(out, modeName(c, m))
		}
	}
	return out
}

func modeName(cluster string, m FlareMode) string {
	if m.Name == "" {
		return cluster
	}
	return cluster + "-" + m.Name
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
	vs, err := startVariants(ctx, bins, o)
	defer func() {
		for _, v := range vs {
			v.stop()
		}
	}()
	if err != nil {
		return nil, err
	}
	slot := 0 // baselines run in every len(Regions)-th round, spread over the phases
	for _, n := range o.Regions {
		for _, v := range vs {
			o.logf("splitting %s into %d regions", v.name, n)
			if err := v.fc.splitInto(ctx, n, o.Load.Keys); err != nil {
				return nil, err
			}
		}
		var rows []row
		for _, v := range vs {
			rows = append(rows, v.rows...)
		}
		for r := 0; r < o.Rounds; r++ {
			for _, op := range o.Ops {
				for i := range rows {
					v := rows[(i+r)%len(rows)] // alternate which row goes first
					name := fmt.Sprintf("%s-%dr", v.name, n)
					wait := func() {}
					if o.ProfileDir != "" && r == o.Rounds-1 {
						wait = v.fc.profileStores(ctx, o.ProfileDir, fmt.Sprintf("%s-%s", name, op), o.Load.Warmup+o.Load.Duration)
					}
					rep.add(name, op, o.measure(ctx, name, v.conns, op, v.fc.pids()))
					wait()
				}
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

// variant is one running FlareDB cluster with its clients, one row per
// client mode.
type variant struct {
	name string
	fc   *flareCluster
	rows []row
}

// row is a cluster measured through the clients of one mode.
type row struct {
	name  string
	fc    *flareCluster
	conns []conn
}

func (v *variant) stop() {
	for _, r := range v.rows {
		closeAll(r.conns)
	}
	v.fc.stop()
}

// startVariants starts FlareDB, and the comparison store's cluster when
// one is set, each settled on one region and preloaded.
func startVariants(ctx context.Context, bins *Binaries, o Options) ([]*variant, error) {
	var vs []*variant
	for _, name := range o.clusterNames() {
		b := *bins
		if name != "flaredb" {
			b.Store = o.CompareStore
		}
		o.logf("starting %s (Chainfire, PD, 3 stores)", name)
		fc, err := startFlareCluster(ctx, &b, mkdir(o.Dir, name), flareOptions{regionHeartbeat: 2 * time.Second})
		if err != nil {
			return vs, err
		}
		v := &variant{name: name, fc: fc}
		vs = append(vs, v)
		if err := fc.waitSettled(ctx, 1, 3*time.Minute); err != nil {
			return vs, err
		}
		if err := fc.preload(ctx, o.Load.Keys, o.Load.ValueLen); err != nil {
			return vs, err
		}
		for _, m := range o.modes() {
			conns, err := fc.conns(o.FlareClients, m.Options...)
			if err != nil {
				return vs, err
			}
			v.rows = append(v.rows, row{name: modeName(name, m), fc: fc, conns: conns})
		}
	}
	return vs, nil
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
