package region

import (
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func TestAppliedIndexPersistedAndReplaysSkipped(t *testing.T) {
	f := newFixture(t)
	log := []Entry{
		{Index: 1, Term: 1, Command: putCmd(header(f.r), "k", "v1")},
		{Index: 2, Term: 1, Command: casCmd(header(f.r), "n", "1", "", true)},
		{Index: 3, Term: 2, Command: putCmd(header(f.r), "k", "v3")},
	}
	if _, err := f.r.ApplyBatch(log[:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.Apply(log[2].Index, log[2].Term, log[2].Command); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	if idx, term := f.r.Applied(); idx != 3 || term != 2 {
		t.Fatalf("applied after reopen = %d/%d, want 3/2", idx, term)
	}
	// Raft replays its whole log after a restart: nothing may apply twice.
	res, err := f.r.ApplyBatch(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.Skipped {
			t.Fatalf("entry %d replayed", r.Index)
		}
	}
	if v, _ := f.get(f.r, "k"); v != "v3" {
		t.Fatalf("k = %q after replay, want v3", v)
	}
	// A replayed entry that would now be applied differently (the CAS)
	// must not be re-evaluated either.
	res2, err := f.r.Apply(4, 2, casCmd(header(f.r), "n", "2", "1", false))
	if err != nil || res2.Err != nil || !res2.CAS.Succeeded {
		t.Fatalf("cas after replay = %+v, %v", res2, err)
	}
}

func TestBatchMixesSkippedAndNewEntries(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.r, putCmd(header(f.r), "a", "1")) // index 1
	res, err := f.r.ApplyBatch([]Entry{
		{Index: 1, Term: 1, Command: putCmd(header(f.r), "a", "replayed")},
		{Index: 2, Term: 1, Command: putCmd(header(f.r), "b", "2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Skipped || res[1].Skipped || res[1].Err != nil {
		t.Fatalf("results = %+v", res)
	}
	if v, _ := f.get(f.r, "a"); v != "1" {
		t.Fatalf("a = %q", v)
	}
	if v, _ := f.get(f.r, "b"); v != "2" {
		t.Fatalf("b = %q", v)
	}
}

func TestRejectedEntryAdvancesPersistedIndex(t *testing.T) {
	f := newFixture(t)
	stale := &flaredbv1.RaftCommandHeader{RegionId: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 9}}
	if res := f.apply(f.r, putCmd(stale, "k", "v")); res.Err == nil {
		t.Fatal("stale write accepted")
	}
	f.reopen()
	if idx, _ := f.r.Applied(); idx != 1 {
		t.Fatalf("applied after reopen = %d, want 1", idx)
	}
}

func TestCreateRefusesExistingRegion(t *testing.T) {
	f := newFixture(t)
	if _, err := Create(f.eng, f.r.Region()); err == nil {
		t.Fatal("Create overwrote an existing region")
	}
	if _, err := Create(f.eng, &flaredbv1.Region{Id: 5}); err == nil {
		t.Fatal("Create accepted a region without an epoch")
	}
	_, err := Create(f.eng, &flaredbv1.Region{Id: 6, StartKey: []byte("b"), EndKey: []byte("a"), Epoch: &flaredbv1.RegionEpoch{}})
	wantIs(t, err, ErrInvalidRange)
}
