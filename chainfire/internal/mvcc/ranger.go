package mvcc

import (
	"bytes"
	"fmt"
)

// hit is one key visible to a range: the revision of its record and, when
// the batch overlay already holds the value, the value itself.
type hit struct {
	rev Revision
	kv  *KeyValue
}

// resolve finds the version of a key visible at main revision at. Overlay
// changes are newer than anything committed, so when the overlay has one at
// or before at it wins.
func resolve(ki *keyIndex, pk *pendingKey, at int64) (hit, bool) {
	if pk != nil {
		if c := pk.at(at); c != nil {
			return hit{rev: c.rev, kv: &c.kv}, !c.tomb
		}
	}
	if ki != nil {
		if rev, ok := ki.get(at); ok {
			return hit{rev: rev}, true
		}
	}
	return hit{}, false
}

// ranger collects the keys of a range at one revision from the index and an
// optional overlay. It only reads memory; fetching values is a second step
// so committed reads can drop the store lock before touching bbolt.
type ranger struct {
	index     *treeIndex
	ov        *overlay // nil outside a batch
	at        int64
	limit     int64
	countOnly bool

	hits  []hit
	count int64
}

func (rg *ranger) visit(ki *keyIndex, pk *pendingKey) {
	h, ok := resolve(ki, pk, rg.at)
	if !ok {
		return
	}
	rg.count++
	if rg.countOnly || (rg.limit > 0 && int64(len(rg.hits)) >= rg.limit) {
		return
	}
	rg.hits = append(rg.hits, h)
}

// run walks [key, end) under etcd's range_end rules, merging index and
// overlay keys in order. It visits every key even past the limit, because
// Count must be the total.
func (rg *ranger) run(key, end []byte) {
	lo, hi, ok := keyRange(key, end)
	if !ok {
		return
	}
	var pend []*pendingKey
	if rg.ov != nil {
		pend = rg.ov.within(lo, hi)
	}
	i := 0
	rg.index.ascend(lo, hi, func(ki *keyIndex) bool {
		for i < len(pend) && bytes.Compare(pend[i].key, ki.key) < 0 {
			rg.visit(nil, pend[i])
			i++
		}
		if i < len(pend) && bytes.Equal(pend[i].key, ki.key) {
			rg.visit(ki, pend[i])
			i++
		} else {
			rg.visit(ki, nil)
		}
		return true
	})
	for ; i < len(pend); i++ {
		rg.visit(nil, pend[i])
	}
}

// result fetches the collected values from src (which sees every revision
// in hits) and builds the answer.
func (rg *ranger) result(src revRecords, cur int64, keysOnly bool) (RangeResult, error) {
	res := RangeResult{Rev: cur, Count: rg.count}
	if rg.countOnly {
		return res, nil
	}
	kvs, err := fetch(src, rg.hits, !keysOnly)
	if err != nil {
		return RangeResult{}, err
	}
	res.KVs = kvs
	res.More = rg.count > int64(len(kvs))
	return res, nil
}

// fetch reads the records behind hits.
func fetch(src revRecords, hits []hit, withValue bool) ([]KeyValue, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	kvs := make([]KeyValue, 0, len(hits))
	for _, h := range hits {
		if h.kv != nil {
			kvs = append(kvs, cloneKV(h.kv, withValue))
			continue
		}
		kv, err := src.get(h.rev, withValue)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, kv)
	}
	return kvs, nil
}

// cloneKV copies kv so callers cannot alias batch-internal memory.
func cloneKV(kv *KeyValue, withValue bool) KeyValue {
	out := *kv
	out.Key = bytes.Clone(kv.Key)
	out.Value = nil
	if withValue && len(kv.Value) > 0 {
		out.Value = bytes.Clone(kv.Value)
	}
	return out
}

// readRev applies etcd's rules for the revision a read asks for.
func readRev(req, cur, compacted int64) (int64, error) {
	switch {
	case req > cur:
		return 0, fmt.Errorf("%w: %d > current %d", ErrFutureRev, req, cur)
	case req <= 0:
		return cur, nil
	case req < compacted:
		return 0, fmt.Errorf("%w: %d < compacted %d", ErrCompacted, req, compacted)
	}
	return req, nil
}
