package engine

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Batch collects writes that Commit applies atomically and durably. Its
// embedded View reads the engine plus the batch's own writes. A Batch is not
// safe for concurrent use and must be closed.
type Batch struct {
	View
	b           *pebble.Batch
	applyNoSync bool
}

// PutData sets userKey to value.
func (b *Batch) PutData(userKey, value []byte) error {
	if err := b.b.Set(DataKey(userKey), value, nil); err != nil {
		return fmt.Errorf("engine: put: %w", err)
	}
	return nil
}

// DeleteData deletes userKey.
func (b *Batch) DeleteData(userKey []byte) error {
	if err := b.b.Delete(DataKey(userKey), nil); err != nil {
		return fmt.Errorf("engine: delete: %w", err)
	}
	return nil
}

// DeleteDataRange deletes the user keys in [start, end) (empty end:
// unbounded) with one range tombstone.
func (b *Batch) DeleteDataRange(start, end []byte) error {
	lower, upper := DataSpan(start, end)
	if err := b.b.DeleteRange(lower, upper, nil); err != nil {
		return fmt.Errorf("engine: delete range: %w", err)
	}
	return nil
}

// PutRegionState records a region's state.
func (b *Batch) PutRegionState(st *flaredbv1.RegionLocalState) error {
	return b.putProto(RegionStateKey(st.GetRegion().GetId()), st)
}

// PutApplyState records a region's apply state.
func (b *Batch) PutApplyState(regionID uint64, st *flaredbv1.RegionApplyState) error {
	return b.putProto(ApplyStateKey(regionID), st)
}

func (b *Batch) putProto(key []byte, m proto.Message) error {
	raw, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("engine: encode %x: %w", key, err)
	}
	if err := b.b.Set(key, raw, nil); err != nil {
		return fmt.Errorf("engine: put %x: %w", key, err)
	}
	return nil
}

// Empty reports whether the batch holds no writes.
func (b *Batch) Empty() bool { return b.b.Empty() }

// Commit applies the batch atomically and waits until the WAL is synced,
// so a committed batch survives a crash.
func (b *Batch) Commit() error {
	if err := b.b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("engine: commit: %w", err)
	}
	return nil
}

// CommitApply commits a batch of applied Raft entries: like Commit, or
// without waiting for the fsync when the engine was opened with
// ApplyNoSync (still atomic: after a crash all of the batch or none).
func (b *Batch) CommitApply() error {
	if !b.applyNoSync {
		return b.Commit()
	}
	if err := b.b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("engine: commit: %w", err)
	}
	return nil
}

// Close releases the batch (committed or not).
func (b *Batch) Close() error {
	if err := b.b.Close(); err != nil {
		return fmt.Errorf("engine: close batch: %w", err)
	}
	return nil
}
