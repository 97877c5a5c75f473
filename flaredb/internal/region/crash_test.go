package region

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// TestCrashKeepsAppliedEntriesAndIndexTogether crashes the file system
// (dropping a random part of everything not yet fsynced) after each applied
// batch. Every batch Apply returned must survive with its applied index,
// and the data must match that index exactly.
func TestCrashKeepsAppliedEntriesAndIndexTogether(t *testing.T) {
	fs := vfs.NewCrashableMem()
	eng, err := engine.Open("db", engine.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = eng.Close() }()
	r, err := Create(eng, &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var idx uint64
	for round := range 20 {
		var entries []Entry
		for range 1 + rng.IntN(8) {
			idx++
			entries = append(entries, Entry{Index: idx, Term: 1, Command: putCmd(header(r), keyN(int(idx)), fmt.Sprint(idx))})
		}
		if _, err := r.ApplyBatch(entries); err != nil {
			t.Fatal(err)
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(uint64(round), 7))})
		checkRecovered(t, crashed, idx)
	}
}

func checkRecovered(t *testing.T, fs vfs.FS, want uint64) {
	t.Helper()
	eng, err := engine.Open("db", engine.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = eng.Close() }()
	r, err := Open(eng, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Applied(); got != want {
		t.Fatalf("recovered applied index %d, want %d", got, want)
	}
	v := eng.NewSnapshot()
	defer func() { _ = v.Close() }()
	for i := uint64(1); i <= want+1; i++ {
		val, ok, err := v.GetData([]byte(keyN(int(i))))
		if err != nil {
			t.Fatal(err)
		}
		if ok != (i <= want) || (ok && string(val) != fmt.Sprint(i)) {
			t.Fatalf("after crash at index %d: key %d present=%v value %q", want, i, ok, val)
		}
	}
}

// TestCrashWithoutApplySyncKeepsDataAndIndexTogether: with ApplyNoSync
// (how stores open the engine) a crash may lose the latest applied
// batches, but never splits one: the recovered applied index is at most
// the last one applied and the data is exactly that index's, so Raft's
// replay from the index on restores the rest without applying anything
// twice. Engine.Sync makes everything applied so far survive.
func TestCrashWithoutApplySyncKeepsDataAndIndexTogether(t *testing.T) {
	fs := vfs.NewCrashableMem()
	eng, err := engine.Open("db", engine.Options{FS: fs, ApplyNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = eng.Close() }()
	r, err := Create(eng, &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var idx uint64
	for round := range 20 {
		for range 1 + rng.IntN(8) {
			idx++
			if _, err := r.ApplyBatch([]Entry{{Index: idx, Term: 1, Command: putCmd(header(r), keyN(int(idx)), fmt.Sprint(idx))}}); err != nil {
				t.Fatal(err)
			}
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(uint64(round), 9))})
		got := recoveredIndex(t, crashed)
		if got > idx {
			t.Fatalf("recovered applied index %d beyond the last applied %d", got, idx)
		}
		checkRecovered(t, crashed, got)
		if round%5 == 4 {
			if err := eng.Sync(); err != nil {
				t.Fatal(err)
			}
			checkRecovered(t, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(uint64(round), 11))}), idx)
		}
	}
}

func recoveredIndex(t *testing.T, fs vfs.FS) uint64 {
	t.Helper()
	eng, err := engine.Open("db", engine.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = eng.Close() }()
	r, err := Open(eng, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.Applied()
	return got
}
