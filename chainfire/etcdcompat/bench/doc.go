// Package bench measures Chainfire against etcd with the unmodified etcd
// client: it starts a 3-member cluster of each as processes on 127.0.0.1
// (through the compatibility harness in package cluster) and drives both
// with the same clientv3 workload in one run.
//
// Rows are put, linearizable range, serializable range and txn-put, each at
// one client on one connection and at many clients sharing a few
// connections (64 over 8 by default), with 8-byte keys and 256-byte values;
// plus watch latency (a put until its event reaches every one of many
// watchers) and lease keepalive throughput (LeaseKeepAlive streams that
// each renew once, as clientv3's KeepAliveOnce does).
//
// The machine is small and shared, so a run is several rounds that
// alternate which implementation goes first on every row; the table reports
// the median of each figure across rounds, and the ratios of those medians.
package bench
