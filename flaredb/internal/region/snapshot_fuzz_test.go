package region

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// seedSnapshot returns a valid snapshot stream of a small region.
func seedSnapshot(f *testing.F) []byte {
	f.Helper()
	eng, err := engine.Open("", engine.Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	defer func() { _ = eng.Close() }()
	r, err := Create(eng, &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1}})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := r.Apply(1, 1, putCmd(header(r), "a", "1", "b", "2")); err != nil {
		f.Fatal(err)
	}
	snap, err := r.Snapshot()
	if err != nil {
		f.Fatal(err)
	}
	defer func() { _ = snap.Close() }()
	var buf bytes.Buffer
	if err := snap.WriteTo(context.Background(), &buf); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzInstallSnapshot feeds arbitrary streams to InstallNew: anything that
// is not an intact snapshot must be rejected with ErrBadSnapshot, never a
// panic.
func FuzzInstallSnapshot(f *testing.F) {
	f.Add(seedSnapshot(f))
	f.Add([]byte("FDBRSNP1"))
	f.Add([]byte{})
	eng, err := engine.Open("", engine.Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	defer func() { _ = eng.Close() }()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := InstallNew(context.Background(), eng, bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("install error %v is not ErrBadSnapshot", err)
			}
			return
		}
		if _, err := r.SplitCheck(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
