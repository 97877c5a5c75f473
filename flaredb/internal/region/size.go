package region

import (
	"context"
	"fmt"

	"github.com/photoncloud/core/flaredb/internal/engine"
)

// ApproximateSize estimates the region's on-disk bytes from the engine's
// table metadata, without reading data (TiKV's APPROXIMATE policy). Recent
// writes still in the memtable are not counted.
func (r *Replica) ApproximateSize() (uint64, error) {
	region := r.Region()
	n, err := r.eng.EstimateDiskUsage(region.GetStartKey(), region.GetEndKey())
	if err != nil {
		return 0, fmt.Errorf("region %d size: %w", region.GetId(), err)
	}
	return n, nil
}

// SplitStats is what the split checker learns from a scan of a region.
type SplitStats struct {
	// Keys and Bytes (key + value lengths) in the region.
	Keys  uint64
	Bytes uint64
	// SplitKey is the first key at which at least half of the region's
	// bytes lie before it: splitting there gives two halves of about equal
	// size. It is nil when the region cannot be split (fewer than two keys).
	SplitKey []byte
}

// SplitCheck scans the region (TiKV's SCAN policy) from one engine snapshot:
// a first pass counts keys and bytes, a second finds the middle key by size.
func (r *Replica) SplitCheck(ctx context.Context) (SplitStats, error) {
	r.mu.RLock()
	region := r.state.GetRegion()
	v := r.eng.NewSnapshot()
	r.mu.RUnlock()
	defer func() { _ = v.Close() }()

	var st SplitStats
	start, end := region.GetStartKey(), region.GetEndKey()
	err := v.ScanData(start, end, false, func(k, val []byte) (bool, error) {
		st.Keys++
		st.Bytes += uint64(len(k) + len(val))
		return true, ctx.Err()
	})
	if err != nil {
		return SplitStats{}, fmt.Errorf("region %d split check: %w", region.GetId(), err)
	}
	if st.Keys < 2 {
		return st, nil
	}
	st.SplitKey, err = middleKey(ctx, v, start, end, st.Bytes/2)
	if err != nil {
		return SplitStats{}, fmt.Errorf("region %d split check: %w", region.GetId(), err)
	}
	return st, nil
}

// middleKey returns the first key after the region's first key whose
// preceding pairs hold at least half bytes, or the last key when one huge
// pair dominates. Skipping the first key keeps the split key strictly
// inside the region, so both halves are non-empty.
func middleKey(ctx context.Context, v *engine.View, start, end []byte, half uint64) ([]byte, error) {
	var seen uint64
	var last []byte
	first := true
	err := v.ScanData(start, end, false, func(k, val []byte) (bool, error) {
		if !first {
			last = append(last[:0], k...)
			if seen >= half {
				return false, nil
			}
		}
		first = false
		seen += uint64(len(k) + len(val))
		return true, ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	return last, nil
}
