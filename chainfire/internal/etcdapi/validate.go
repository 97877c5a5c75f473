package etcdapi

import (
	"bytes"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

func checkRange(r *pb.RangeRequest) error {
	if len(r.GetKey()) == 0 {
		return etcderr.EmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.GetSortOrder())]; !ok {
		return etcderr.InvalidSortOpt
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.GetSortTarget())]; !ok {
		return etcderr.InvalidSortOpt
	}
	return nil
}

func checkPut(r *pb.PutRequest) error {
	switch {
	case len(r.GetKey()) == 0:
		return etcderr.EmptyKey
	case r.GetIgnoreValue() && len(r.GetValue()) != 0:
		return etcderr.ValueProvided
	case r.GetIgnoreLease() && r.GetLease() != 0:
		return etcderr.LeaseProvided
	}
	return nil
}

func checkDelete(r *pb.DeleteRangeRequest) error {
	if len(r.GetKey()) == 0 {
		return etcderr.EmptyKey
	}
	return nil
}

// checkTxn validates a txn and its nested txns: sizes, every op, and that
// no key is written twice along any path through the txn.
func checkTxn(r *pb.TxnRequest, maxOps int) error {
	if len(r.GetCompare()) > maxOps || len(r.GetSuccess()) > maxOps || len(r.GetFailure()) > maxOps {
		return etcderr.TooManyOps
	}
	for _, c := range r.GetCompare() {
		if len(c.GetKey()) == 0 {
			return etcderr.EmptyKey
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.GetSuccess(), r.GetFailure()} {
		for _, op := range ops {
			if err := checkOp(op, maxOps); err != nil {
				return err
			}
		}
		if _, err := branchWrites(ops); err != nil {
			return err
		}
	}
	return nil
}

func checkOp(op *pb.RequestOp, maxOps int) error {
	switch {
	case op.GetRequestRange() != nil:
		return checkRange(op.GetRequestRange())
	case op.GetRequestPut() != nil:
		return checkPut(op.GetRequestPut())
	case op.GetRequestDeleteRange() != nil:
		return checkDelete(op.GetRequestDeleteRange())
	case op.GetRequestTxn() != nil:
		return checkTxn(op.GetRequestTxn(), maxOps)
	}
	return nil
}

// writeSet is what one branch writes: keys it puts and ranges it deletes.
type writeSet struct {
	puts    [][]byte
	deletes []keyRange
}

type keyRange struct{ key, end []byte }

func (k keyRange) contains(key []byte) bool {
	if len(k.end) == 0 {
		return bytes.Equal(key, k.key)
	}
	if bytes.Equal(k.end, []byte{0}) {
		return bytes.Compare(key, k.key) >= 0
	}
	return bytes.Compare(key, k.key) >= 0 && bytes.Compare(key, k.end) < 0
}

// branchWrites collects a branch's writes and rejects a key written twice:
// put twice, or put inside a range the branch deletes. A nested txn adds
// the writes of both its branches; they may overlap each other, since only
// one of them runs.
func branchWrites(ops []*pb.RequestOp) (writeSet, error) {
	var ws writeSet
	puts := map[string]bool{}
	addPut := func(k []byte, allowed map[string]bool) error {
		if (puts[string(k)] && !allowed[string(k)]) || ws.deleted(k) {
			return etcderr.DuplicateKey
		}
		puts[string(k)] = true
		ws.puts = append(ws.puts, k)
		return nil
	}
	for _, op := range ops {
		switch {
		case op.GetRequestPut() != nil:
			if err := addPut(op.GetRequestPut().GetKey(), nil); err != nil {
				return ws, err
			}
		case op.GetRequestDeleteRange() != nil:
			d := op.GetRequestDeleteRange()
			r := keyRange{d.GetKey(), d.GetRangeEnd()}
			for k := range puts {
				if r.contains([]byte(k)) {
					return ws, etcderr.DuplicateKey
				}
			}
			ws.deletes = append(ws.deletes, r)
		case op.GetRequestTxn() != nil:
			if err := ws.addNested(op.GetRequestTxn(), puts, addPut); err != nil {
				return ws, err
			}
		}
	}
	return ws, nil
}

func (ws *writeSet) addNested(t *pb.TxnRequest, puts map[string]bool, addPut func([]byte, map[string]bool) error) error {
	then, err := branchWrites(t.GetSuccess())
	if err != nil {
		return err
	}
	els, err := branchWrites(t.GetFailure())
	if err != nil {
		return err
	}
	thenPuts := map[string]bool{}
	for _, k := range then.puts {
		if err := addPut(k, nil); err != nil {
			return err
		}
		thenPuts[string(k)] = true
	}
	for _, k := range els.puts {
		if err := addPut(k, thenPuts); err != nil {
			return err
		}
	}
	for _, d := range append(then.deletes, els.deletes...) {
		for k := range puts {
			if d.contains([]byte(k)) && !then.putsKey(k) && !els.putsKey(k) {
				return etcderr.DuplicateKey
			}
		}
		ws.deletes = append(ws.deletes, d)
	}
	return nil
}

func (ws *writeSet) deleted(k []byte) bool {
	for _, d := range ws.deletes {
		if d.contains(k) {
			return true
		}
	}
	return false
}

func (ws *writeSet) putsKey(k string) bool {
	for _, p := range ws.puts {
		if string(p) == k {
			return true
		}
	}
	return false
}
