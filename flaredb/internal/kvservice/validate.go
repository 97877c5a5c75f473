package kvservice

import (
	"bytes"
	"fmt"

	"github.com/photoncloud/core/flaredb/internal/region"
	"github.com/photoncloud/core/flaredb/internal/store"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Validation that depends only on the request, done before routing so bad
// input is InvalidArgument whichever region it was sent to. The region
// package checks the same limits again when it proposes and applies.

func validContext(rc *flaredbv1.Context) error {
	if rc == nil {
		return fmt.Errorf("%w: context is missing", store.ErrBadContext)
	}
	if rc.GetRegionId() == 0 {
		return fmt.Errorf("%w: region_id is 0", store.ErrBadContext)
	}
	if rc.GetRegionEpoch() == nil {
		return region.ErrMissingEpoch
	}
	return nil
}

func validKey(k []byte) error {
	if len(k) == 0 {
		return region.ErrEmptyKey
	}
	if len(k) > region.MaxKeySize {
		return region.ErrKeyTooLarge
	}
	return nil
}

func validValue(v []byte) error {
	if len(v) > region.MaxValueSize {
		return region.ErrValueTooLarge
	}
	return nil
}

func validKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: no keys", region.ErrInvalidArgument)
	}
	if len(keys) > region.MaxBatchKeys {
		return region.ErrTooManyKeys
	}
	for _, k := range keys {
		if err := validKey(k); err != nil {
			return err
		}
	}
	return nil
}

func validPairs(pairs []*flaredbv1.KvPair) error {
	if len(pairs) == 0 {
		return fmt.Errorf("%w: no pairs", region.ErrInvalidArgument)
	}
	if len(pairs) > region.MaxBatchKeys {
		return region.ErrTooManyKeys
	}
	for _, p := range pairs {
		if err := validKey(p.GetKey()); err != nil {
			return err
		}
		if err := validValue(p.GetValue()); err != nil {
			return err
		}
	}
	return nil
}

// validRange accepts empty bounds (the region's own) and rejects
// start > end and oversized bounds.
func validRange(start, end []byte) error {
	if len(start) > region.MaxKeySize || len(end) > region.MaxKeySize {
		return region.ErrKeyTooLarge
	}
	if len(start) > 0 && len(end) > 0 && bytes.Compare(start, end) > 0 {
		return region.ErrInvalidRange
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
