package compat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }

// startCluster starts the 3-member cluster of the implementation under test.
func startCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	return cluster.Start(t, cluster.Config{Members: 3})
}

// deadline bounds a test: its context ends after d (and when the test ends).
func deadline(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// clientMode is a way of reaching the cluster: through every member, or
// pinned to one follower (so writes are forwarded to the leader and
// linearizable reads need a read index from it).
type clientMode struct {
	name string
	cli  *clientv3.Client
}

func clientModes(t *testing.T, c *cluster.Cluster) []clientMode {
	t.Helper()
	all := c.Client(t)
	f := c.Follower(t, all)
	return []clientMode{
		{"all-members", all},
		{"follower", c.Client(t, c.Member(f).Endpoint())},
	}
}

// wantErr fails the test unless err is (errors.Is) want, the typed error
// clientv3 returns for an etcd error message.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v (%T), want %q", what, err, err, want)
	}
}

// wantStatus fails the test unless err is a gRPC status with the code and
// (when msg is not empty) exactly the message.
func wantStatus(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%s: got %v (%T), want a gRPC status %v %q", what, err, err, code, msg)
	}
	if st.Code() != code || (msg != "" && st.Message() != msg) {
		t.Fatalf("%s: got status %v %q, want %v %q", what, st.Code(), st.Message(), code, msg)
	}
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// rev returns the cluster's current revision (a linearizable read's header).
func rev(t *testing.T, ctx context.Context, cli *clientv3.Client) int64 {
	t.Helper()
	resp, err := cli.Get(ctx, "\x00compat-revision-probe")
	if err != nil {
		t.Fatalf("reading the current revision: %v", err)
	}
	return resp.Header.Revision
}

// wantRev fails the test unless the current revision is want.
func wantRev(t *testing.T, ctx context.Context, cli *clientv3.Client, what string, want int64) {
	t.Helper()
	if got := rev(t, ctx, cli); got != want {
		t.Fatalf("%s: current revision %d, want %d", what, got, want)
	}
}

func keysOf(kvs []*mvccpb.KeyValue) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = string(kv.Key)
	}
	return out
}

func wantKeys(t *testing.T, what string, kvs []*mvccpb.KeyValue, want ...string) {
	t.Helper()
	if got := keysOf(kvs); !slices.Equal(got, want) {
		t.Fatalf("%s: keys %q, want %q", what, got, want)
	}
}

// wantKV fails the test unless kv has exactly these fields.
func wantKV(t *testing.T, what string, kv *mvccpb.KeyValue, key, value string, create, mod, version, lease int64) {
	t.Helper()
	if kv == nil {
		t.Fatalf("%s: no key-value, want %q", what, key)
	}
	want := fmt.Sprintf("key=%q value=%q create=%d mod=%d version=%d lease=%d", key, value, create, mod, version, lease)
	got := fmt.Sprintf("key=%q value=%q create=%d mod=%d version=%d lease=%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
	if got != want {
		t.Fatalf("%s:\n got  %s\n want %s", what, got, want)
	}
}

// short shortens a long value for messages.
func short(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s...(%d bytes)", s[:40], len(s))
	}
	return s
}
