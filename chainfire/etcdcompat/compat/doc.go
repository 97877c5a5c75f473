// Package compat is the etcd v3 compatibility suite for Chainfire: tests that
// start a real multi-member cluster (see package cluster) and drive it with
// the unmodified etcd Go client (go.etcd.io/etcd/client/v3) and etcdctl.
//
// COMPAT_IMPL chooses the implementation under test: chainfire (default) or
// etcd. Every assertion encodes what etcd v3.7.3 itself does, so the suite
// passing against etcd proves the tests right, and passing against Chainfire
// proves Chainfire compatible. Run it outside the workspace:
//
//	cd chainfire/etcdcompat && GOWORK=off go test -count=1 ./...
//	cd chainfire/etcdcompat && COMPAT_IMPL=etcd GOWORK=off go test -count=1 ./...
//
// The package has no non-test code besides this comment.
package compat
