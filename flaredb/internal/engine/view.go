package engine

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// View is a read-only view of the engine: a snapshot, or a batch's view.
// A View from NewSnapshot must be closed; a Batch's view closes with it.
type View struct {
	r pebble.Reader
	// shared: r is the engine itself, which Close must not close.
	shared bool
}

// Close releases a snapshot View.
func (v *View) Close() error {
	if v.shared {
		return nil
	}
	if err := v.r.Close(); err != nil {
		return fmt.Errorf("engine: close view: %w", err)
	}
	return nil
}

// GetData returns a copy of the value of userKey, and false when the key
// has no value.
func (v *View) GetData(userKey []byte) ([]byte, bool, error) {
	return v.get(DataKey(userKey))
}

func (v *View) get(key []byte) ([]byte, bool, error) {
	val, closer, err := v.r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("engine: get: %w", err)
	}
	out := append([]byte{}, val...)
	if err := closer.Close(); err != nil {
		return nil, false, fmt.Errorf("engine: get: %w", err)
	}
	return out, true, nil
}

// ScanFunc receives one user key and its value. Both slices are only valid
// during the call. Returning false stops the scan.
type ScanFunc func(key, value []byte) (bool, error)

// ScanData calls fn for every user key in [start, end) (empty end:
// unbounded), in ascending order or, with reverse, descending order.
func (v *View) ScanData(start, end []byte, reverse bool, fn ScanFunc) error {
	lower, upper := DataSpan(start, end)
	it, err := v.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("engine: scan: %w", err)
	}
	step := it.Next
	valid := it.First()
	if reverse {
		step = it.Prev
		valid = it.Last()
	}
	for ; valid; valid = step() {
		val, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("engine: scan value: %w", err)
		}
		more, err := fn(it.Key()[1:], val)
		if err != nil || !more {
			_ = it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("engine: scan: %w", err)
	}
	return nil
}

// RegionState reads a region's persisted state; ErrNotFound if absent.
func (v *View) RegionState(regionID uint64) (*flaredbv1.RegionLocalState, error) {
	st := &flaredbv1.RegionLocalState{}
	if err := v.getProto(RegionStateKey(regionID), st); err != nil {
		return nil, fmt.Errorf("region %d state: %w", regionID, err)
	}
	return st, nil
}

// ApplyState reads a region's persisted apply state; ErrNotFound if absent.
func (v *View) ApplyState(regionID uint64) (*flaredbv1.RegionApplyState, error) {
	st := &flaredbv1.RegionApplyState{}
	if err := v.getProto(ApplyStateKey(regionID), st); err != nil {
		return nil, fmt.Errorf("region %d apply state: %w", regionID, err)
	}
	return st, nil
}

func (v *View) getProto(key []byte, m proto.Message) error {
	raw, ok, err := v.get(key)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	if err := proto.Unmarshal(raw, m); err != nil {
		return fmt.Errorf("engine: decode %x: %w", key, err)
	}
	return nil
}

// RegionStates returns every region state stored in the engine, ordered by
// region id. A store calls it at start-up to find the regions it hosts.
func (v *View) RegionStates() ([]*flaredbv1.RegionLocalState, error) {
	lower, upper := regionMetaSpan()
	it, err := v.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("engine: list regions: %w", err)
	}
	var out []*flaredbv1.RegionLocalState
	for valid := it.First(); valid; valid = it.Next() {
		if _, ok := DecodeRegionStateKey(it.Key()); !ok {
			continue
		}
		st := &flaredbv1.RegionLocalState{}
		if err := proto.Unmarshal(it.Value(), st); err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("engine: decode region state %x: %w", it.Key(), err)
		}
		out = append(out, st)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("engine: list regions: %w", err)
	}
	return out, nil
}
