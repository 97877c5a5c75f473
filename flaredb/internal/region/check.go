package region

import (
	"bytes"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// epochCheck says which parts of an epoch a request must match.
type epochCheck int

const (
	// checkVersion is for reads and data writes: only a split or merge
	// changes which keys a region owns.
	checkVersion epochCheck = iota
	// checkAll is for admin commands, which also depend on the peer list.
	checkAll
)

// checkEpoch rejects got unless it matches cur as required by kind. Any
// difference — older or newer — is a mismatch: the caller's view of the
// region is not this replica's.
func checkEpoch(cur *flaredbv1.Region, got *flaredbv1.RegionEpoch, kind epochCheck) error {
	if got == nil {
		return ErrMissingEpoch
	}
	e := cur.GetEpoch()
	if got.GetVersion() != e.GetVersion() || (kind == checkAll && got.GetConfVer() != e.GetConfVer()) {
		return errEpochNotMatch(cur, got)
	}
	return nil
}

// inRange reports whether key lies in [start, end) (empty end: unbounded).
func inRange(key, start, end []byte) bool {
	return bytes.Compare(key, start) >= 0 && (len(end) == 0 || bytes.Compare(key, end) < 0)
}

// checkKeyInRegion rejects key unless it lies in r's range.
func checkKeyInRegion(key []byte, r *flaredbv1.Region) error {
	if !inRange(key, r.GetStartKey(), r.GetEndKey()) {
		return errKeyNotInRegion(key, r)
	}
	return nil
}

// validateKey rejects keys that may never be stored.
func validateKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > MaxKeySize {
		return ErrKeyTooLarge
	}
	return nil
}

// validateValue rejects values that may never be stored.
func validateValue(v []byte) error {
	if len(v) > MaxValueSize {
		return ErrValueTooLarge
	}
	return nil
}

// checkKeys validates each key and checks it lies in r.
func checkKeys(r *flaredbv1.Region, keys ...[]byte) error {
	if len(keys) > MaxBatchKeys {
		return ErrTooManyKeys
	}
	for _, k := range keys {
		if err := validateKey(k); err != nil {
			return err
		}
		if err := checkKeyInRegion(k, r); err != nil {
			return err
		}
	}
	return nil
}

// clipRange intersects the request range [start, end) with r's range. An
// empty start means the region's start and an empty end the region's end.
// A range outside the region is KeyNotInRegion; start > end is invalid.
func clipRange(r *flaredbv1.Region, start, end []byte) (lo, hi []byte, err error) {
	if len(start) > MaxKeySize || len(end) > MaxKeySize {
		return nil, nil, ErrKeyTooLarge
	}
	if len(start) > 0 && len(end) > 0 && bytes.Compare(start, end) > 0 {
		return nil, nil, ErrInvalidRange
	}
	lo, hi = r.GetStartKey(), r.GetEndKey()
	if bytes.Compare(start, lo) > 0 {
		lo = start
	}
	if len(end) > 0 && (len(hi) == 0 || bytes.Compare(end, hi) < 0) {
		hi = end
	}
	if len(hi) > 0 && bytes.Compare(lo, hi) >= 0 && !bytes.Equal(start, end) {
		return nil, nil, errKeyNotInRegion(start, r)
	}
	return lo, hi, nil
}
