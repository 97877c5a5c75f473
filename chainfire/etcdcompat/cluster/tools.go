package cluster

import "testing"

// EtcdutlBinary returns the path of etcdutl (etcd's offline snapshot
// tool): $ETCDUTL_BIN when set, otherwise go.etcd.io/etcd/etcdutl/v3 built
// once per test process from this module's pinned tool dependency.
func EtcdutlBinary(t testing.TB) string {
	t.Helper()
	return binary(t, "ETCDUTL_BIN", "etcdutl", buildEtcdTool("go.etcd.io/etcd/etcdutl/v3"))
}

// SnapshotTool returns the command that runs "snapshot status" and
// "snapshot restore" for impl: etcdutl for etcd, the chainfire binary
// itself for Chainfire (same subcommands and flags).
func SnapshotTool(t testing.TB, impl Impl) string {
	t.Helper()
	if impl == Etcd {
		return EtcdutlBinary(t)
	}
	return ServerBinary(t, impl)
}
