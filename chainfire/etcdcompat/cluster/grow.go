package cluster

import (
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// NewMember prepares (but does not start) a member named name with fresh
// ports and data directory, for adding to the running cluster: announce
// its PeerURL with MemberAdd, then StartJoining it.
func (c *Cluster) NewMember(t testing.TB, name string) *Member {
	t.Helper()
	ports, err := freePorts(2)
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	m := &Member{
		Name:      name,
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		impl:      c.impl,
		bin:       c.bin,
	}
	m.DataDir = filepath.Join(c.dir, name+".data")
	m.LogPath = filepath.Join(c.logDir, name+".log")
	return m
}

// StartJoining starts m with --initial-cluster-state=existing and
// initialCluster (the member list MemberAdd answered, m included, as
// name=peerURL pairs), and adds it to the cluster's members. It does not
// wait for readiness: a learner never reports ready to etcd's /health.
func (c *Cluster) StartJoining(t testing.TB, m *Member, initialCluster string) {
	t.Helper()
	m.args = append([]string{
		"--name=" + m.Name,
		"--data-dir=" + m.DataDir,
		"--listen-client-urls=" + m.ClientURL,
		"--advertise-client-urls=" + m.ClientURL,
		"--listen-peer-urls=" + m.PeerURL,
		"--initial-advertise-peer-urls=" + m.PeerURL,
		"--initial-cluster=" + initialCluster,
		"--initial-cluster-state=existing",
		"--initial-cluster-token=" + c.token,
		"--log-level=" + c.level,
	}, c.extraFlags...)
	if err := m.start(); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	c.members = append(c.members, m)
}

// WaitMemberReady waits until m answers ready (a voter that caught up).
func (c *Cluster) WaitMemberReady(t testing.TB, m *Member) {
	t.Helper()
	c.waitReady(t, m)
}

// Forget stops tracking member m (after it was removed from the cluster),
// killing its process if it still runs.
func (c *Cluster) Forget(t testing.TB, m *Member) {
	t.Helper()
	if m.Running() {
		c.stop(t, syscall.SIGKILL, m)
	}
	c.members = slices.DeleteFunc(c.members, func(x *Member) bool { return x == m })
}
