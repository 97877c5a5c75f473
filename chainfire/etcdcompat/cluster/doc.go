// Package cluster starts real multi-member clusters of an etcd-compatible
// server as child processes on 127.0.0.1, for compatibility tests that drive
// them with the unmodified etcd client and etcdctl.
//
// The same etcd-style flag set starts either implementation: Chainfire (built
// from ./chainfire/cmd/chainfire in this repository) or etcd itself (built
// from go.etcd.io/etcd/server/v3, pinned as a tool in this module's go.mod).
// Tests choose the implementation with the COMPAT_IMPL environment variable
// (chainfire, the default, or etcd), so one suite is first proven right
// against etcd and then judges Chainfire.
//
// Binaries are built once per test process unless CHAINFIRE_BIN, ETCD_BIN or
// ETCDCTL_BIN name one. Call [Main] from TestMain so the build directory is
// removed when the tests end.
//
// Each member gets free ports outside the kernel's ephemeral range (so an
// outgoing connection can never hold a port a killed member must bind again
// on restart), a data directory under t.TempDir() and a log file collecting
// its stdout and stderr; the tail of every member's log is printed when the
// test fails. Set COMPAT_LOG_DIR to keep the logs after the test.
//
// Methods that take a testing.TB fail that test on error, so they must be
// called from its goroutine.
package cluster
