package kvservice

import (
	"errors"
	"fmt"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Limits of one StoreBatch call. The key limit keeps every merged
// per-region write within what one BatchPut may carry; the byte limit
// bounds the Raft entries and memory one call can cause even when the
// server's request size limit is raised.
const (
	MaxStoreBatchRequests = region.MaxBatchKeys
	MaxStoreBatchKeys     = region.MaxBatchKeys
	MaxStoreBatchBytes    = 4 << 20
)

// ErrStoreBatchTooLarge is a StoreBatch whose keys and values exceed
// MaxStoreBatchBytes; it is answered with ResourceExhausted, as an
// oversized request message is.
var ErrStoreBatchTooLarge = fmt.Errorf("store batch larger than %d bytes of keys and values", MaxStoreBatchBytes)

var (
	errNoSubRequests    = fmt.Errorf("%w: store batch without sub-requests", region.ErrInvalidArgument)
	errTooManySubs      = fmt.Errorf("%w: more than %d sub-requests in one store batch", region.ErrInvalidArgument, MaxStoreBatchRequests)
	errTooManyBatchKeys = fmt.Errorf("%w: more than %d keys in one store batch", region.ErrInvalidArgument, MaxStoreBatchKeys)
	errEmptySub         = errors.New("sub-request without a request")
)

// validStoreBatch checks the limits of the whole call: the number of
// sub-requests, of keys and of key and value bytes. Each sub-request's own
// content is checked by validSub, and a bad one fails alone.
func validStoreBatch(subs []*flaredbv1.StoreBatchRequest_Sub) error {
	if len(subs) == 0 {
		return errNoSubRequests
	}
	if len(subs) > MaxStoreBatchRequests {
		return errTooManySubs
	}
	keys, size := 0, 0
	for i, sub := range subs {
		k, b := subSize(sub)
		keys += k
		size += b
		if keys > MaxStoreBatchKeys {
			return errTooManyBatchKeys
		}
		if size > MaxStoreBatchBytes {
			return fmt.Errorf("%w (at sub-request %d)", ErrStoreBatchTooLarge, i)
		}
	}
	return nil
}

// subSize is the keys a sub-request names and the bytes of its keys and
// values.
func subSize(sub *flaredbv1.StoreBatchRequest_Sub) (keys, size int) {
	switch r := sub.GetRequest().(type) {
	case *flaredbv1.StoreBatchRequest_Sub_Get:
		return 1, len(r.Get.GetKey())
	case *flaredbv1.StoreBatchRequest_Sub_BatchGet:
		for _, k := range r.BatchGet.GetKeys() {
			size += len(k)
		}
		return len(r.BatchGet.GetKeys()), size
	case *flaredbv1.StoreBatchRequest_Sub_Put:
		return 1, len(r.Put.GetKey()) + len(r.Put.GetValue())
	case *flaredbv1.StoreBatchRequest_Sub_BatchPut:
		for _, p := range r.BatchPut.GetPairs() {
			size += len(p.GetKey()) + len(p.GetValue())
		}
		return len(r.BatchPut.GetPairs()), size
	case *flaredbv1.StoreBatchRequest_Sub_Delete:
		return 1, len(r.Delete.GetKey())
	case *flaredbv1.StoreBatchRequest_Sub_BatchDelete:
		for _, k := range r.BatchDelete.GetKeys() {
			size += len(k)
		}
		return len(r.BatchDelete.GetKeys()), size
	case *flaredbv1.StoreBatchRequest_Sub_CompareAndSwap:
		m := r.CompareAndSwap
		return 1, len(m.GetKey()) + len(m.GetValue()) + len(m.GetPreviousValue())
	}
	return 0, 0
}

// validSub checks one sub-request as its own RPC would be checked.
func validSub(sub *flaredbv1.StoreBatchRequest_Sub) error {
	switch r := sub.GetRequest().(type) {
	case *flaredbv1.StoreBatchRequest_Sub_Get:
		return firstErr(validContext(r.Get.GetContext()), validKey(r.Get.GetKey()))
	case *flaredbv1.StoreBatchRequest_Sub_BatchGet:
		return firstErr(validContext(r.BatchGet.GetContext()), validKeys(r.BatchGet.GetKeys()))
	case *flaredbv1.StoreBatchRequest_Sub_Put:
		return firstErr(validContext(r.Put.GetContext()), validKey(r.Put.GetKey()), validValue(r.Put.GetValue()))
	case *flaredbv1.StoreBatchRequest_Sub_BatchPut:
		return firstErr(validContext(r.BatchPut.GetContext()), validPairs(r.BatchPut.GetPairs()))
	case *flaredbv1.StoreBatchRequest_Sub_Delete:
		return firstErr(validContext(r.Delete.GetContext()), validKey(r.Delete.GetKey()))
	case *flaredbv1.StoreBatchRequest_Sub_BatchDelete:
		return firstErr(validContext(r.BatchDelete.GetContext()), validKeys(r.BatchDelete.GetKeys()))
	case *flaredbv1.StoreBatchRequest_Sub_CompareAndSwap:
		m := r.CompareAndSwap
		return firstErr(validContext(m.GetContext()), validKey(m.GetKey()), validValue(m.GetValue()), validValue(m.GetPreviousValue()))
	}
	return fmt.Errorf("%w: %w", region.ErrInvalidArgument, errEmptySub)
}
