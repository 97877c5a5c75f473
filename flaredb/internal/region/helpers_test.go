package region

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// fixture is one engine with one bootstrapped region covering everything.
type fixture struct {
	t   *testing.T
	dir string
	eng *engine.Engine
	r   *Replica
	idx uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir()}
	f.open()
	r, err := Create(f.eng, &flaredbv1.Region{
		Id:    1,
		Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1},
		Peers: []*flaredbv1.Peer{
			{Id: 11, StoreId: 1, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER},
			{Id: 12, StoreId: 2, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER},
			{Id: 13, StoreId: 3, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	eng, err := engine.Open(f.dir, engine.Options{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.eng = eng
	f.t.Cleanup(func() { _ = eng.Close() })
}

// reopen closes and reopens the engine and reloads region 1, as a restart.
func (f *fixture) reopen() {
	f.t.Helper()
	if err := f.eng.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
	r, err := Open(f.eng, 1)
	if err != nil {
		f.t.Fatal(err)
	}
	f.r = r
}

// apply applies cmd to r at the next index and fails on engine errors.
func (f *fixture) apply(r *Replica, cmd *flaredbv1.RaftCommand) Result {
	f.t.Helper()
	f.idx++
	res, err := r.Apply(f.idx, 1, cmd)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// mustApply applies cmd and fails if it was rejected.
func (f *fixture) mustApply(r *Replica, cmd *flaredbv1.RaftCommand) Result {
	f.t.Helper()
	res := f.apply(r, cmd)
	if res.Err != nil {
		f.t.Fatalf("apply rejected: %v", res.Err)
	}
	return res
}

func (f *fixture) get(r *Replica, key string) (string, bool) {
	f.t.Helper()
	v, ok, err := r.Get(context.Background(), reqCtx(r), []byte(key))
	if err != nil {
		f.t.Fatalf("get %q: %v", key, err)
	}
	return string(v), ok
}

// rawGet reads the engine directly, bypassing region checks.
func (f *fixture) rawGet(key string) (string, bool) {
	f.t.Helper()
	v := f.eng.NewSnapshot()
	defer func() { _ = v.Close() }()
	val, ok, err := v.GetData([]byte(key))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(val), ok
}

func epochOf(r *Replica) *flaredbv1.RegionEpoch { return r.Region().GetEpoch() }

func reqCtx(r *Replica) *flaredbv1.Context {
	return &flaredbv1.Context{RegionId: r.ID(), RegionEpoch: epochOf(r)}
}

func header(r *Replica) *flaredbv1.RaftCommandHeader {
	return &flaredbv1.RaftCommandHeader{RegionId: r.ID(), Epoch: epochOf(r)}
}

func putCmd(h *flaredbv1.RaftCommandHeader, kvs ...string) *flaredbv1.RaftCommand {
	wb := &flaredbv1.WriteBatch{}
	for i := 0; i+1 < len(kvs); i += 2 {
		wb.Mutations = append(wb.Mutations, &flaredbv1.Mutation{Op: &flaredbv1.Mutation_Put{
			Put: &flaredbv1.PutMutation{Key: []byte(kvs[i]), Value: []byte(kvs[i+1])},
		}})
	}
	return &flaredbv1.RaftCommand{Header: h, Command: &flaredbv1.RaftCommand_Write{Write: wb}}
}

func splitCmd(h *flaredbv1.RaftCommandHeader, key string, newID uint64, peerIDs ...uint64) *flaredbv1.RaftCommand {
	return &flaredbv1.RaftCommand{Header: h, Command: &flaredbv1.RaftCommand_Split{Split: &flaredbv1.SplitCommand{
		SplitKey: []byte(key), NewRegionId: newID, NewPeerIds: peerIDs,
	}}}
}

func casCmd(h *flaredbv1.RaftCommandHeader, key, value, prev string, prevNotExists bool) *flaredbv1.RaftCommand {
	return &flaredbv1.RaftCommand{Header: h, Command: &flaredbv1.RaftCommand_Cas{Cas: &flaredbv1.CompareAndSwapCommand{
		Key: []byte(key), Value: []byte(value), PreviousValue: []byte(prev), PreviousNotExists: prevNotExists,
	}}}
}

// putMany writes n keys key%05d in one command.
func (f *fixture) putMany(r *Replica, n int) {
	f.t.Helper()
	var kvs []string
	for i := range n {
		kvs = append(kvs, fmt.Sprintf("key%05d", i), fmt.Sprintf("val%05d", i))
	}
	f.mustApply(r, putCmd(header(r), kvs...))
}

// wantRegionError fails unless err is a region error of the given kind.
func wantRegionError[T any](t *testing.T, err error) T {
	t.Helper()
	re, ok := AsRegionError(err)
	if !ok {
		t.Fatalf("err = %v, want region error", err)
	}
	e, ok := re.GetError().(T)
	if !ok {
		t.Fatalf("region error = %v, want %T", re, e)
	}
	return e
}

func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
