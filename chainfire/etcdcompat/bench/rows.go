package bench

import (
	"fmt"
	"strings"
)

// Kind is a workload.
type Kind string

// The workloads a row can run.
const (
	Put            Kind = "put"
	RangeLin       Kind = "range-lin"
	RangeSer       Kind = "range-ser"
	TxnPut         Kind = "txn-put"
	Watch          Kind = "watch"
	LeaseKeepAlive Kind = "lease-keepalive"
)

// AllKinds lists every workload in table order.
var AllKinds = []Kind{Put, RangeLin, RangeSer, TxnPut, Watch, LeaseKeepAlive}

// kvKinds are the workloads run at every client count.
func (k Kind) perClientCount() bool { return k != Watch && k != LeaseKeepAlive }

// Row is one line of the table: a workload at a number of clients.
type Row struct {
	Kind    Kind
	Clients int
}

func (r Row) String() string {
	switch r.Kind {
	case Watch:
		return fmt.Sprintf("watch latency (%d watchers)", r.Clients)
	case LeaseKeepAlive:
		return fmt.Sprintf("lease keepalive (%d clients)", r.Clients)
	}
	return fmt.Sprintf("%s (%d clients)", r.Kind, r.Clients)
}

// ParseKinds parses a comma-separated list of workloads ("all" for every
// one).
func ParseKinds(s string) ([]Kind, error) {
	if s == "" || s == "all" {
		return AllKinds, nil
	}
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(f))
		found := false
		for _, known := range AllKinds {
			found = found || k == known
		}
		if !found {
			return nil, fmt.Errorf("unknown row %q (want some of %v)", k, AllKinds)
		}
		out = append(out, k)
	}
	return out, nil
}

// rows expands the chosen workloads into table rows: the KV workloads at
// every client count, watch at the watcher count and keepalive at the
// largest client count.
func (o Options) rows() []Row {
	var out []Row
	most := 0
	for _, c := range o.Clients {
		most = max(most, c)
	}
	for _, k := range o.Kinds {
		switch {
		case k.perClientCount():
			for _, c := range o.Clients {
				out = append(out, Row{Kind: k, Clients: c})
			}
		case k == Watch:
			out = append(out, Row{Kind: k, Clients: o.Watchers})
		default:
			out = append(out, Row{Kind: k, Clients: most})
		}
	}
	return out
}
