package region

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	e, err := engine.Open(t.TempDir(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func dump(t *testing.T, r *Replica) []KV {
	t.Helper()
	kvs, err := r.Scan(context.Background(), reqCtx(r), ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return kvs
}

func snapshotBytes(t *testing.T, r *Replica) []byte {
	t.Helper()
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = snap.Close() }()
	var buf bytes.Buffer
	if err := snap.WriteTo(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSnapshotRoundTrip(t *testing.T) {
	f := newFixture(t)
	f.putMany(f.r, 1000)
	f.mustApply(f.r, splitCmd(header(f.r), keyN(300), 2, 21, 22, 23))
	f.mustApply(f.r, putCmd(header(f.r), keyN(300), "changed"))

	// The snapshot is a point-in-time image: later writes are not in it.
	snap, err := f.r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	f.mustApply(f.r, putCmd(header(f.r), "zzz-after", "x"))
	var buf bytes.Buffer
	if err := snap.WriteTo(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if snap.AppliedIndex() != 3 || string(snap.Region().GetStartKey()) != keyN(300) {
		t.Fatalf("snapshot at %d of %v", snap.AppliedIndex(), snap.Region())
	}
	_ = snap.Close()

	other := newEngine(t)
	// Stale data in the target's span is replaced; data outside is kept.
	b := other.NewBatch()
	_ = b.PutData([]byte(keyN(999)+"-stale"), []byte("old"))
	_ = b.PutData([]byte(keyN(1)), []byte("child's"))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	r2, err := InstallNew(context.Background(), other, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if idx, _ := r2.Applied(); idx != 3 {
		t.Fatalf("installed applied = %d", idx)
	}
	got := dump(t, r2)
	if len(got) != 700 || string(got[0].Value) != "changed" {
		t.Fatalf("installed %d pairs, first %q", len(got), got[0].Value)
	}
	orig, err := Open(other, 1)
	if err != nil || !bytes.Equal(mustMarshal(t, orig.Region()), mustMarshal(t, snap.Region())) {
		t.Fatalf("reopened installed region = %v, %v", orig.Region(), err)
	}
	v := other.NewSnapshot()
	defer func() { _ = v.Close() }()
	if val, ok, _ := v.GetData([]byte(keyN(1))); !ok || string(val) != "child's" {
		t.Fatal("install touched keys outside the region")
	}

	// Installing into a replica that already exists (a lagging follower)
	// catches it up to identical data.
	f2 := newFixture(t)
	if err := f2.r.Install(context.Background(), bytes.NewReader(snapshotBytes(t, f.r))); err != nil {
		t.Fatal(err)
	}
	a, c := dump(t, f.r), dump(t, f2.r)
	if len(a) != len(c) {
		t.Fatalf("replica has %d pairs, source %d", len(c), len(a))
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, c[i].Key) || !bytes.Equal(a[i].Value, c[i].Value) {
			t.Fatalf("pair %d differs", i)
		}
	}
	if f2.r.Region().GetEpoch().GetVersion() != 2 {
		t.Fatalf("installed region = %v", f2.r.Region())
	}
}

func TestInstallRejectsCorruptOrForeignSnapshot(t *testing.T) {
	f := newFixture(t)
	f.putMany(f.r, 10)
	data := snapshotBytes(t, f.r)

	target := newFixture(t)
	target.mustApply(target.r, putCmd(header(target.r), "keep", "me"))
	for i := range []int{0, 1, 2} {
		bad := append([]byte{}, data...)
		switch i {
		case 0:
			bad[len(bad)/2] ^= 0xff // flipped byte
		case 1:
			bad = bad[:len(bad)-3] // torn
		case 2:
			bad[0] = 'X' // magic
		}
		err := target.r.Install(context.Background(), bytes.NewReader(bad))
		if !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("case %d: install = %v", i, err)
		}
	}
	if v, ok := target.get(target.r, "keep"); !ok || v != "me" {
		t.Fatal("failed install changed data")
	}
	if idx, _ := target.r.Applied(); idx != 1 {
		t.Fatalf("failed install changed applied index to %d", idx)
	}

	// A snapshot of region 2 cannot be installed into region 1.
	other := newEngine(t)
	r2, err := Create(other, &flaredbv1.Region{Id: 2, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := target.r.Install(context.Background(), bytes.NewReader(snapshotBytes(t, r2))); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("foreign install = %v", err)
	}

	// A snapshot behind the replica's applied index would roll it back.
	target.mustApply(target.r, putCmd(header(target.r), "newer", "x"))
	if err := target.r.Install(context.Background(), bytes.NewReader(data)); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("older snapshot install = %v", err)
	}
	if _, ok := target.get(target.r, "newer"); !ok {
		t.Fatal("older snapshot rolled the replica back")
	}
}

func TestSnapshotLargeValues(t *testing.T) {
	f := newFixture(t)
	for i := range 8 {
		f.mustApply(f.r, putCmd(header(f.r), fmt.Sprintf("big%d", i), string(bytes.Repeat([]byte{byte(i)}, 256<<10))))
	}
	r2, err := InstallNew(context.Background(), newEngine(t), bytes.NewReader(snapshotBytes(t, f.r)))
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(t, r2); len(got) != 8 || len(got[7].Value) != 256<<10 || got[7].Value[0] != 7 {
		t.Fatalf("large values not preserved: %d pairs", len(got))
	}
}
