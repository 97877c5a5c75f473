package engine

import (
	"errors"
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func openTest(t *testing.T, dir string) *Engine {
	t.Helper()
	e, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func commit(t *testing.T, e *Engine, fn func(b *Batch) error) {
	t.Helper()
	b := e.NewBatch()
	defer func() { _ = b.Close() }()
	if err := fn(b); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestBatchCommitSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	commit(t, e, func(b *Batch) error {
		if err := b.PutData([]byte("k"), []byte("v")); err != nil {
			return err
		}
		// The indexed batch reads its own writes before commit.
		if v, ok, err := b.GetData([]byte("k")); err != nil || !ok || string(v) != "v" {
			t.Fatalf("batch read = %q %v %v", v, ok, err)
		}
		region := &flaredbv1.Region{Id: 7, EndKey: []byte("m")}
		if err := b.PutRegionState(&flaredbv1.RegionLocalState{Region: region}); err != nil {
			return err
		}
		return b.PutApplyState(7, &flaredbv1.RegionApplyState{AppliedIndex: 42, AppliedTerm: 3})
	})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir)
	defer func() { _ = e.Close() }()
	v := e.NewSnapshot()
	defer func() { _ = v.Close() }()
	if val, ok, err := v.GetData([]byte("k")); err != nil || !ok || string(val) != "v" {
		t.Fatalf("after reopen get = %q %v %v", val, ok, err)
	}
	ap, err := v.ApplyState(7)
	if err != nil || ap.GetAppliedIndex() != 42 || ap.GetAppliedTerm() != 3 {
		t.Fatalf("apply state = %v, %v", ap, err)
	}
	states, err := v.RegionStates()
	if err != nil || len(states) != 1 || states[0].GetRegion().GetId() != 7 {
		t.Fatalf("region states = %v, %v", states, err)
	}
	if _, err := v.RegionState(8); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing region state err = %v", err)
	}
}

func TestScanDataAndDeleteRange(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer func() { _ = e.Close() }()
	commit(t, e, func(b *Batch) error {
		for _, k := range []string{"a", "b", "c", "d"} {
			if err := b.PutData([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	commit(t, e, func(b *Batch) error { return b.DeleteDataRange([]byte("b"), []byte("d")) })
	v := e.NewSnapshot()
	defer func() { _ = v.Close() }()
	var got []string
	err := v.ScanData(nil, nil, true, func(k, val []byte) (bool, error) {
		got = append(got, string(k)+"="+string(val))
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "d=vd" || got[1] != "a=va" {
		t.Fatalf("reverse scan after delete range = %v", got)
	}
}
