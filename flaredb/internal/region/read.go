package region

import (
	"context"
	"fmt"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// KV is one key and its value.
type KV struct {
	Key   []byte
	Value []byte
}

// ScanOptions select a range read. Start and End bound the keys as
// [Start, End), clipped to the region; an empty Start or End means the
// region's own bound. Reverse returns keys in descending order. Limit 0 or
// above MaxScanLimit means MaxScanLimit. KeysOnly leaves values nil.
type ScanOptions struct {
	Start, End []byte
	Limit      int
	Reverse    bool
	KeysOnly   bool
}

// CheckRequest checks a client request's routing (region id, epoch
// version) and keys against the region's current state. The store calls it
// before proposing a write; reads call it themselves.
func (r *Replica) CheckRequest(rc *flaredbv1.Context, keys ...[]byte) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return checkRequest(r.state, rc, keys...)
}

func checkRequest(st *flaredbv1.RegionLocalState, rc *flaredbv1.Context, keys ...[]byte) error {
	region := st.GetRegion()
	if rc.GetRegionId() != region.GetId() || st.GetState() != flaredbv1.PeerState_PEER_STATE_NORMAL {
		return errRegionNotFound(rc.GetRegionId())
	}
	if err := checkEpoch(region, rc.GetRegionEpoch(), checkVersion); err != nil {
		return err
	}
	return checkKeys(region, keys...)
}

// view checks the request and opens a snapshot while holding the read
// lock, so the snapshot is of the state the request was checked against.
func (r *Replica) view(rc *flaredbv1.Context, keys ...[]byte) (*engine.View, *flaredbv1.Region, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if err := checkRequest(r.state, rc, keys...); err != nil {
		return nil, nil, err
	}
	return r.eng.NewSnapshot(), r.state.GetRegion(), nil
}

// Get reads one key. It returns false when the key has no value. A point
// read needs no snapshot: it reads the live engine while holding the read
// lock, so no range change can slip between the check and the read.
func (r *Replica) Get(ctx context.Context, rc *flaredbv1.Context, key []byte) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if err := checkRequest(r.state, rc, key); err != nil {
		return nil, false, err
	}
	val, ok, err := r.eng.Live().GetData(key)
	if err != nil {
		return nil, false, fmt.Errorf("region get: %w", err)
	}
	return val, ok, nil
}

// BatchGet reads several keys from one consistent view. Keys without a
// value are left out; the rest keep the request's order.
func (r *Replica) BatchGet(ctx context.Context, rc *flaredbv1.Context, keys [][]byte) ([]KV, error) {
	v, _, err := r.view(rc, keys...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = v.Close() }()
	var out []KV
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		val, ok, err := v.GetData(k)
		if err != nil {
			return nil, fmt.Errorf("region batch get: %w", err)
		}
		if ok {
			out = append(out, KV{Key: append([]byte{}, k...), Value: val})
		}
	}
	return out, nil
}

// Scan reads a range of the region from one consistent view.
func (r *Replica) Scan(ctx context.Context, rc *flaredbv1.Context, opts ScanOptions) ([]KV, error) {
	v, region, err := r.view(rc)
	if err != nil {
		return nil, err
	}
	defer func() { _ = v.Close() }()
	lo, hi, err := clipRange(region, opts.Start, opts.End)
	if err != nil {
		return nil, err
	}
	return scanView(ctx, v, lo, hi, opts)
}

func scanView(ctx context.Context, v *engine.View, lo, hi []byte, opts ScanOptions) ([]KV, error) {
	limit := opts.Limit
	if limit <= 0 || limit > MaxScanLimit {
		limit = MaxScanLimit
	}
	if len(hi) > 0 && string(lo) >= string(hi) {
		return nil, nil
	}
	var out []KV
	err := v.ScanData(lo, hi, opts.Reverse, func(k, val []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		kv := KV{Key: append([]byte{}, k...)}
		if !opts.KeysOnly {
			kv.Value = append([]byte{}, val...)
		}
		out = append(out, kv)
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("region scan: %w", err)
	}
	return out, nil
}
