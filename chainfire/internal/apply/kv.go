package apply

import (
	"bytes"
	"cmp"
	"errors"
	"slices"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/mvccpb"
)

// Reader is the read side of the store that Range runs against: a read
// transaction for plain reads, or a write transaction inside a Txn.
type Reader interface {
	Range(key, end []byte, opts mvcc.RangeOptions) (mvcc.RangeResult, error)
}

// Range answers an etcd RangeRequest from r, including sorting, the
// min/max revision filters, limit, keys_only and count_only. The header is
// left for the caller (only Revision is set).
func Range(r Reader, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	// Filters and sorting need every match before the limit applies; a
	// plain ranged read asks for one more than the limit to learn "more".
	limit := req.GetLimit()
	if needsAll(req) {
		limit = 0
	} else if limit > 0 {
		limit++
	}
	res, err := r.Range(req.GetKey(), req.GetRangeEnd(), mvcc.RangeOptions{
		Rev:       req.GetRevision(),
		Limit:     limit,
		CountOnly: req.GetCountOnly(),
		KeysOnly:  req.GetKeysOnly(),
	})
	if err != nil {
		return nil, storeError(err)
	}
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: res.Rev}, Count: res.Count}
	if req.GetCountOnly() {
		return resp, nil
	}
	kvs := filterRevisions(res.KVs, req)
	sortKVs(kvs, req)
	if req.GetLimit() > 0 && int64(len(kvs)) > req.GetLimit() {
		kvs = kvs[:req.GetLimit()]
		resp.More = true
	}
	resp.Kvs = make([]*mvccpb.KeyValue, len(kvs))
	for i := range kvs {
		resp.Kvs[i] = ToProto(&kvs[i])
	}
	return resp, nil
}

func needsAll(req *pb.RangeRequest) bool {
	return effectiveSortOrder(req) != pb.RangeRequest_NONE ||
		req.GetMinModRevision() != 0 || req.GetMaxModRevision() != 0 ||
		req.GetMinCreateRevision() != 0 || req.GetMaxCreateRevision() != 0
}

// effectiveSortOrder follows etcd: results come in ascending key order, so
// an ascending sort by key needs no work, and any other target with no
// order given sorts ascending.
func effectiveSortOrder(req *pb.RangeRequest) pb.RangeRequest_SortOrder {
	order, target := req.GetSortOrder(), req.GetSortTarget()
	switch {
	case target != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE:
		return pb.RangeRequest_ASCEND
	case target == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND:
		return pb.RangeRequest_NONE
	}
	return order
}

func filterRevisions(kvs []mvcc.KeyValue, req *pb.RangeRequest) []mvcc.KeyValue {
	minMod, maxMod := req.GetMinModRevision(), req.GetMaxModRevision()
	minCreate, maxCreate := req.GetMinCreateRevision(), req.GetMaxCreateRevision()
	if minMod == 0 && maxMod == 0 && minCreate == 0 && maxCreate == 0 {
		return kvs
	}
	out := kvs[:0]
	for _, kv := range kvs {
		if (minMod != 0 && kv.ModRevision < minMod) || (maxMod != 0 && kv.ModRevision > maxMod) ||
			(minCreate != 0 && kv.CreateRevision < minCreate) || (maxCreate != 0 && kv.CreateRevision > maxCreate) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func sortKVs(kvs []mvcc.KeyValue, req *pb.RangeRequest) {
	order := effectiveSortOrder(req)
	if order == pb.RangeRequest_NONE {
		return
	}
	compare := func(a, b mvcc.KeyValue) int {
		var c int
		switch req.GetSortTarget() {
		case pb.RangeRequest_VERSION:
			c = cmp.Compare(a.Version, b.Version)
		case pb.RangeRequest_CREATE:
			c = cmp.Compare(a.CreateRevision, b.CreateRevision)
		case pb.RangeRequest_MOD:
			c = cmp.Compare(a.ModRevision, b.ModRevision)
		case pb.RangeRequest_VALUE:
			c = bytes.Compare(a.Value, b.Value)
		}
		if c == 0 {
			c = bytes.Compare(a.Key, b.Key)
		}
		if order == pb.RangeRequest_DESCEND {
			return -c
		}
		return c
	}
	slices.SortStableFunc(kvs, compare)
}

// ToProto converts a stored key-value to etcd's wire type.
func ToProto(kv *mvcc.KeyValue) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{
		Key:            kv.Key,
		Value:          kv.Value,
		CreateRevision: kv.CreateRevision,
		ModRevision:    kv.ModRevision,
		Version:        kv.Version,
		Lease:          kv.Lease,
	}
}

// storeError maps MVCC errors to etcd's API errors.
func storeError(err error) error {
	switch {
	case errors.Is(err, mvcc.ErrCompacted):
		return etcderr.Compacted
	case errors.Is(err, mvcc.ErrFutureRev):
		return etcderr.FutureRev
	case errors.Is(err, mvcc.ErrEmptyKey):
		return etcderr.EmptyKey
	}
	return err
}

func put(tx *mvcc.WriteTxn, req *pb.PutRequest) (*pb.PutResponse, error) {
	value, lease := req.GetValue(), req.GetLease()
	var prev *mvcc.KeyValue
	if req.GetIgnoreValue() || req.GetIgnoreLease() || req.GetPrevKv() {
		res, err := tx.Range(req.GetKey(), nil, mvcc.RangeOptions{})
		if err != nil {
			return nil, storeError(err)
		}
		if len(res.KVs) > 0 {
			prev = &res.KVs[0]
		}
	}
	if req.GetIgnoreValue() || req.GetIgnoreLease() {
		if prev == nil {
			return nil, etcderr.KeyNotFound
		}
		if req.GetIgnoreValue() {
			value = prev.Value
		}
		if req.GetIgnoreLease() {
			lease = prev.Lease
		}
	}
	if lease != 0 {
		// Leases arrive with the lease service; until then none exists.
		return nil, etcderr.LeaseNotFound
	}
	if _, err := tx.Put(req.GetKey(), value, lease); err != nil {
		return nil, storeError(err)
	}
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{}}
	if req.GetPrevKv() && prev != nil {
		resp.PrevKv = ToProto(prev)
	}
	return resp, nil
}

func deleteRange(tx *mvcc.WriteTxn, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	n, prevs, err := tx.DeleteRange(req.GetKey(), req.GetRangeEnd())
	if err != nil {
		return nil, storeError(err)
	}
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}, Deleted: n}
	if req.GetPrevKv() {
		resp.PrevKvs = make([]*mvccpb.KeyValue, len(prevs))
		for i := range prevs {
			resp.PrevKvs[i] = ToProto(&prevs[i])
		}
	}
	return resp, nil
}
