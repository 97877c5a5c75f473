package apply

import (
	"bytes"
	"cmp"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// txnPath records which branch every (nested) transaction takes. As in
// etcd, all compares — nested ones included — are evaluated against the
// state before the transaction writes anything.
type txnPath struct {
	succeeded bool
	nested    []*txnPath // one per nested txn op of the chosen branch, in order
}

func evalPath(r Reader, req *pb.TxnRequest) (*txnPath, error) {
	p := &txnPath{succeeded: true}
	for _, c := range req.GetCompare() {
		ok, err := evalCompare(r, c)
		if err != nil {
			return nil, err
		}
		if !ok {
			p.succeeded = false
			break
		}
	}
	for _, op := range branch(req, p.succeeded) {
		if nested := op.GetRequestTxn(); nested != nil {
			np, err := evalPath(r, nested)
			if err != nil {
				return nil, err
			}
			p.nested = append(p.nested, np)
		}
	}
	return p, nil
}

func branch(req *pb.TxnRequest, succeeded bool) []*pb.RequestOp {
	if succeeded {
		return req.GetSuccess()
	}
	return req.GetFailure()
}

// evalCompare holds when every key in the compare's range satisfies it. A
// missing key compares as a zero key-value, except that a VALUE compare on
// a missing key always fails (there is no value to compare).
func evalCompare(r Reader, c *pb.Compare) (bool, error) {
	res, err := r.Range(c.GetKey(), c.GetRangeEnd(), mvcc.RangeOptions{})
	if err != nil {
		return false, storeError(err)
	}
	if len(res.KVs) == 0 {
		if c.GetTarget() == pb.Compare_VALUE {
			return false, nil
		}
		return compareKV(c, &mvcc.KeyValue{}), nil
	}
	for i := range res.KVs {
		if !compareKV(c, &res.KVs[i]) {
			return false, nil
		}
	}
	return true, nil
}

// compareKV is etcd's: an unknown target compares as equal and an unknown
// result holds (the API layer checks neither enum, like etcd's).
func compareKV(c *pb.Compare, kv *mvcc.KeyValue) bool {
	var r int
	switch c.GetTarget() {
	case pb.Compare_VERSION:
		r = cmp.Compare(kv.Version, c.GetVersion())
	case pb.Compare_CREATE:
		r = cmp.Compare(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		r = cmp.Compare(kv.ModRevision, c.GetModRevision())
	case pb.Compare_VALUE:
		r = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_LEASE:
		r = cmp.Compare(kv.Lease, c.GetLease())
	}
	switch c.GetResult() {
	case pb.Compare_EQUAL:
		return r == 0
	case pb.Compare_NOT_EQUAL:
		return r != 0
	case pb.Compare_GREATER:
		return r > 0
	case pb.Compare_LESS:
		return r < 0
	}
	return true
}

// checkPath rejects, before anything is written, a transaction whose chosen
// operations would fail on the current state, in op order with etcd's
// checks (checkTxn): a range at a future revision or below the compact
// revision compactRev — etcd compares any non-zero revision, so a negative
// one below the compact revision fails as compacted, although a plain
// Range reads it as "latest" — and a put naming a lease that does not
// exist or keeping the value or lease of a missing key.
func checkPath(r Reader, leases LeaseSet, req *pb.TxnRequest, p *txnPath, compactRev int64) error {
	nested := 0
	for _, op := range branch(req, p.succeeded) {
		switch {
		case op.GetRequestRange() != nil:
			if err := checkRangeRev(r, op.GetRequestRange().GetRevision(), compactRev); err != nil {
				return err
			}
		case op.GetRequestPut() != nil:
			put := op.GetRequestPut()
			if err := checkLease(leases, put); err != nil {
				return err
			}
			if put.GetIgnoreValue() || put.GetIgnoreLease() {
				res, err := r.Range(put.GetKey(), nil, mvcc.RangeOptions{CountOnly: true})
				if err != nil {
					return storeError(err)
				}
				if res.Count == 0 {
					return etcderr.KeyNotFound
				}
			}
		case op.GetRequestTxn() != nil:
			if err := checkPath(r, leases, op.GetRequestTxn(), p.nested[nested], compactRev); err != nil {
				return err
			}
			nested++
		}
	}
	return nil
}

// emptyRange is a range with no keys (key >= end): reading it only checks
// the revision.
var emptyRange = []byte{1}

// checkRangeRev is etcd's checkRange for a range inside a txn.
func checkRangeRev(r Reader, rev, compactRev int64) error {
	switch {
	case rev == 0:
		return nil
	case rev < 0:
		if rev < compactRev {
			return etcderr.Compacted
		}
		return nil
	}
	_, err := r.Range(emptyRange, emptyRange, mvcc.RangeOptions{Rev: rev, CountOnly: true})
	return storeError(err)
}

// execTxn runs the chosen operations in order, each seeing the writes of
// the ones before it.
func execTxn(tx *mvcc.WriteTxn, leases LeaseSet, req *pb.TxnRequest, p *txnPath) (*pb.TxnResponse, error) {
	return runOps(tx, tx, leases, req, p)
}

// runOps executes the operations of the chosen branches, reading through r
// and writing through tx (nil for read-only txns, which have no writes and
// so need no leases either).
func runOps(r Reader, tx *mvcc.WriteTxn, leases LeaseSet, req *pb.TxnRequest, p *txnPath) (*pb.TxnResponse, error) {
	resp := &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: p.succeeded}
	nested := 0
	for _, op := range branch(req, p.succeeded) {
		var out *pb.ResponseOp
		switch {
		case op.GetRequestRange() != nil:
			r, err := Range(r, op.GetRequestRange())
			if err != nil {
				return nil, err
			}
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: r}}
		case op.GetRequestPut() != nil:
			r, err := put(tx, leases, op.GetRequestPut())
			if err != nil {
				return nil, err
			}
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: r}}
		case op.GetRequestDeleteRange() != nil:
			r, err := deleteRange(tx, op.GetRequestDeleteRange())
			if err != nil {
				return nil, err
			}
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: r}}
		case op.GetRequestTxn() != nil:
			r, err := runOps(r, tx, leases, op.GetRequestTxn(), p.nested[nested])
			if err != nil {
				return nil, err
			}
			nested++
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: r}}
		default:
			out = &pb.ResponseOp{} // an empty op: etcd answers it with an empty response
		}
		resp.Responses = append(resp.Responses, out)
	}
	return resp, nil
}
