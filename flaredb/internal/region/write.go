package region

import (
	"bytes"
	"fmt"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// checkWriteBatch validates every mutation against the region's range. It
// runs before anything is written, so a rejected batch writes nothing.
func checkWriteBatch(region *flaredbv1.Region, wb *flaredbv1.WriteBatch) error {
	muts := wb.GetMutations()
	if len(muts) == 0 {
		return fmt.Errorf("%w: empty write batch", ErrInvalidCommand)
	}
	if len(muts) > MaxBatchKeys {
		return ErrTooManyKeys
	}
	for _, m := range muts {
		if err := checkMutation(region, m); err != nil {
			return err
		}
	}
	return nil
}

func checkMutation(region *flaredbv1.Region, m *flaredbv1.Mutation) error {
	switch op := m.GetOp().(type) {
	case *flaredbv1.Mutation_Put:
		if err := checkKeys(region, op.Put.GetKey()); err != nil {
			return err
		}
		return validateValue(op.Put.GetValue())
	case *flaredbv1.Mutation_Delete:
		return checkKeys(region, op.Delete.GetKey())
	case *flaredbv1.Mutation_DeleteRange:
		return checkDeleteRange(region, op.DeleteRange)
	default:
		return fmt.Errorf("%w: empty mutation", ErrInvalidCommand)
	}
}

// checkDeleteRange requires [start, end) to lie inside the region; an
// empty start means the region's start and an empty end the region's end.
func checkDeleteRange(region *flaredbv1.Region, dr *flaredbv1.DeleteRangeMutation) error {
	start, end := dr.GetStartKey(), dr.GetEndKey()
	if len(start) > 0 {
		if err := checkKeys(region, start); err != nil {
			return err
		}
	}
	if len(end) == 0 {
		return nil
	}
	if len(end) > MaxKeySize {
		return ErrKeyTooLarge
	}
	if len(start) > 0 && bytes.Compare(start, end) > 0 {
		return ErrInvalidRange
	}
	if regionEnd := region.GetEndKey(); bytes.Compare(end, region.GetStartKey()) < 0 ||
		(len(regionEnd) > 0 && bytes.Compare(end, regionEnd) > 0) {
		return errKeyNotInRegion(end, region)
	}
	return nil
}

// writeBatch writes an already checked batch.
func writeBatch(b *engine.Batch, region *flaredbv1.Region, wb *flaredbv1.WriteBatch) error {
	for _, m := range wb.GetMutations() {
		var err error
		switch op := m.GetOp().(type) {
		case *flaredbv1.Mutation_Put:
			err = b.PutData(op.Put.GetKey(), op.Put.GetValue())
		case *flaredbv1.Mutation_Delete:
			err = b.DeleteData(op.Delete.GetKey())
		case *flaredbv1.Mutation_DeleteRange:
			start, end := op.DeleteRange.GetStartKey(), op.DeleteRange.GetEndKey()
			if len(start) == 0 {
				start = region.GetStartKey()
			}
			if len(end) == 0 {
				end = region.GetEndKey()
			}
			err = b.DeleteDataRange(start, end)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func checkCAS(region *flaredbv1.Region, c *flaredbv1.CompareAndSwapCommand) error {
	if err := checkKeys(region, c.GetKey()); err != nil {
		return err
	}
	return validateValue(c.GetValue())
}

// applyCAS compares and swaps through the batch, so it sees every write
// applied before it, including earlier entries of the same batch.
func applyCAS(b *engine.Batch, c *flaredbv1.CompareAndSwapCommand) (*CASResult, error) {
	prev, found, err := b.GetData(c.GetKey())
	if err != nil {
		return nil, err
	}
	res := &CASResult{PreviousValue: prev, PreviousNotExists: !found}
	if c.GetPreviousNotExists() {
		res.Succeeded = !found
	} else {
		res.Succeeded = found && bytes.Equal(prev, c.GetPreviousValue())
	}
	if !res.Succeeded {
		return res, nil
	}
	return res, b.PutData(c.GetKey(), c.GetValue())
}
