package apply

import (
	"bytes"
	"errors"
	"math"
	"sort"

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
//
// It follows etcd's executeRange step by step, quirks included: the limit
// is applied while reading unless the request asks for a non-default order
// or a revision filter, so a sort target other than KEY with order NONE
// (which etcd sorts ascending) orders only the first limit+1 keys; ties of
// the sort target keep the order etcd's (unstable) sort gives them; and
// count is the number of keys in the range, ignoring limit and filters.
func Range(r Reader, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	limit := req.GetLimit()
	if !isDefaultOrdering(req.GetSortTarget(), req.GetSortOrder()) || hasRevisionFilters(req) {
		limit = 0 // fetch everything; filter, sort and truncate afterwards
	}
	if limit > 0 && limit < math.MaxInt64 {
		limit++ // one extra to learn "more"
	}
	res, err := r.Range(req.GetKey(), req.GetRangeEnd(), mvcc.RangeOptions{
		Rev:       req.GetRevision(),
		Limit:     limit,
		CountOnly: req.GetCountOnly(),
		// Sorting by value needs the values even when only keys are
		// returned; they are dropped after sorting.
		KeysOnly: req.GetKeysOnly() && req.GetSortTarget() != pb.RangeRequest_VALUE,
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
		if req.GetKeysOnly() {
			kvs[i].Value = nil
		}
		resp.Kvs[i] = ToProto(&kvs[i])
	}
	return resp, nil
}

// isDefaultOrdering reports an order the store already returns: none, or
// ascending by key.
func isDefaultOrdering(target pb.RangeRequest_SortTarget, order pb.RangeRequest_SortOrder) bool {
	return order == pb.RangeRequest_NONE ||
		(target == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND)
}

func hasRevisionFilters(req *pb.RangeRequest) bool {
	return req.GetMinModRevision() != 0 || req.GetMaxModRevision() != 0 ||
		req.GetMinCreateRevision() != 0 || req.GetMaxCreateRevision() != 0
}

func filterRevisions(kvs []mvcc.KeyValue, req *pb.RangeRequest) []mvcc.KeyValue {
	if !hasRevisionFilters(req) {
		return kvs
	}
	minMod, maxMod := req.GetMinModRevision(), req.GetMaxModRevision()
	minCreate, maxCreate := req.GetMinCreateRevision(), req.GetMaxCreateRevision()
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

// sortKVs orders kvs exactly as etcd v3.7 does. A target other than KEY
// with order NONE sorts ascending; KEY ascending is the store's order
// already. The comparison looks at the target only and the algorithm is
// etcd's (sort.Sort, reversed for DESCEND), so keys whose targets are equal
// come out in the same order as from etcd: for up to 12 keys that is the
// ascending key order, for more it is what pdqsort leaves.
func sortKVs(kvs []mvcc.KeyValue, req *pb.RangeRequest) {
	target, order := req.GetSortTarget(), req.GetSortOrder()
	if target != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	}
	if isDefaultOrdering(target, order) {
		return
	}
	var less func(a, b *mvcc.KeyValue) bool
	switch target {
	case pb.RangeRequest_KEY:
		less = func(a, b *mvcc.KeyValue) bool { return bytes.Compare(a.Key, b.Key) < 0 }
	case pb.RangeRequest_VERSION:
		less = func(a, b *mvcc.KeyValue) bool { return a.Version < b.Version }
	case pb.RangeRequest_CREATE:
		less = func(a, b *mvcc.KeyValue) bool { return a.CreateRevision < b.CreateRevision }
	case pb.RangeRequest_MOD:
		less = func(a, b *mvcc.KeyValue) bool { return a.ModRevision < b.ModRevision }
	case pb.RangeRequest_VALUE:
		less = func(a, b *mvcc.KeyValue) bool { return bytes.Compare(a.Value, b.Value) < 0 }
	default:
		return // rejected by the API layer (invalid sort option)
	}
	var sorter sort.Interface = kvSorter{kvs, less}
	switch order {
	case pb.RangeRequest_ASCEND:
		sort.Sort(sorter)
	case pb.RangeRequest_DESCEND:
		sort.Sort(sort.Reverse(sorter))
	}
}

type kvSorter struct {
	kvs  []mvcc.KeyValue
	less func(a, b *mvcc.KeyValue) bool
}

func (s kvSorter) Len() int           { return len(s.kvs) }
func (s kvSorter) Swap(i, j int)      { s.kvs[i], s.kvs[j] = s.kvs[j], s.kvs[i] }
func (s kvSorter) Less(i, j int) bool { return s.less(&s.kvs[i], &s.kvs[j]) }

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

// LeaseSet tells which leases exist as the entry being applied sees them.
type LeaseSet interface{ Exists(id int64) bool }

// checkLease rejects a put naming a lease that does not exist. A lease
// kept with ignore_lease is not checked, as in etcd.
func checkLease(leases LeaseSet, req *pb.PutRequest) error {
	if id := req.GetLease(); id != 0 && !leases.Exists(id) {
		return etcderr.LeaseNotFound
	}
	return nil
}

// put is etcd's put, checks in etcd's order (a missing lease before a
// missing key for ignore_value/ignore_lease). The header revision is the
// txn's revision after the write, as etcd reports it for puts in a Txn.
func put(tx *mvcc.WriteTxn, leases LeaseSet, req *pb.PutRequest) (*pb.PutResponse, error) {
	if err := checkLease(leases, req); err != nil {
		return nil, err
	}
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
	if _, err := tx.Put(req.GetKey(), value, lease); err != nil {
		return nil, storeError(err)
	}
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: tx.Rev()}}
	if req.GetPrevKv() && prev != nil {
		resp.PrevKv = ToProto(prev)
	}
	return resp, nil
}

// deleteRange is etcd's deleteRange: the header revision is the txn's
// revision after it, which stays the current one if nothing was deleted
// and nothing was written before in the same txn.
func deleteRange(tx *mvcc.WriteTxn, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	n, prevs, err := tx.DeleteRange(req.GetKey(), req.GetRangeEnd())
	if err != nil {
		return nil, storeError(err)
	}
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{Revision: tx.Rev()}, Deleted: n}
	if req.GetPrevKv() {
		resp.PrevKvs = make([]*mvccpb.KeyValue, len(prevs))
		for i := range prevs {
			resp.PrevKvs[i] = ToProto(&prevs[i])
		}
	}
	return resp, nil
}
