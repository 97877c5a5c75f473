package etcdapi

import (
	"bytes"
	"slices"

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

// checkTxn validates a txn as etcd's kvServer.Txn does: first every op of
// the whole tree (checkTxnRequest), then the duplicate-key rule over each
// top-level branch, so an invalid op anywhere wins over a duplicate key.
func checkTxn(r *pb.TxnRequest, maxOps int) error {
	if err := checkTxnRequest(r, maxOps); err != nil {
		return err
	}
	for _, ops := range [][]*pb.RequestOp{r.GetSuccess(), r.GetFailure()} {
		if _, err := branchWrites(ops); err != nil {
			return err
		}
	}
	return nil
}

// checkTxnRequest is etcd's: at most maxOps compares and ops per branch,
// no empty compare key, every op valid. A nested txn gets what is left of
// the budget: maxOps minus the largest of this txn's three lists.
func checkTxnRequest(r *pb.TxnRequest, maxOps int) error {
	opc := max(len(r.GetCompare()), len(r.GetSuccess()), len(r.GetFailure()))
	if opc > maxOps {
		return etcderr.TooManyOps
	}
	for _, c := range r.GetCompare() {
		if len(c.GetKey()) == 0 {
			return etcderr.EmptyKey
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.GetSuccess(), r.GetFailure()} {
		for _, op := range ops {
			if err := checkOp(op, maxOps-opc); err != nil {
				return err
			}
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
		return checkTxnRequest(op.GetRequestTxn(), maxOps)
	}
	// An empty op (no request set): etcd's checkRequestOp answers "key not
	// found" for it.
	return etcderr.KeyNotFound
}

// writes is what a list of ops (one branch) may write: the keys it puts
// and the ranges it deletes, nested txns included with both branches.
type writes struct {
	puts map[string]struct{}
	dels []keyRange
}

// keyRange is a deleted range under etcd's range_end rules: end empty is
// the single key, "\x00" every key from key on, otherwise [key, end).
type keyRange struct{ key, end []byte }

// bounds returns the range as [lo, hi), hi nil meaning unbounded, and
// false if it holds no key.
func (k keyRange) bounds() (lo, hi []byte, ok bool) {
	switch {
	case len(k.end) == 0:
		return k.key, append(append([]byte(nil), k.key...), 0), true
	case len(k.end) == 1 && k.end[0] == 0:
		return k.key, nil, true
	case bytes.Compare(k.key, k.end) >= 0:
		return nil, nil, false
	}
	return k.key, k.end, true
}

// branchWrites checks that no key is written twice by the ops of one
// branch and returns what the branch writes. Two ops conflict when both
// put a key, or one puts a key inside a range the other deletes; deletes
// may overlap each other. A nested txn counts as one op writing what
// either of its branches writes: its two branches never both run, so they
// may overlap each other, but each is checked on its own first.
//
// etcd rejects the same txns (checkIntervals) except in two places where
// its interval tree misses an overlap and this check does not: a delete
// whose range_end is "\x00" (every key from key on; etcd builds the empty
// interval [key, "\x00") for it, etcd-io/etcd#22445), and a nested txn's
// put that falls in the range a LATER sibling nested txn deletes (etcd
// checks each nested txn only against the deletes before it,
// etcd-io/etcd#16380). Both would write a key twice in one revision.
func branchWrites(ops []*pb.RequestOp) (writes, error) {
	per := make([]writes, 0, len(ops))
	for _, op := range ops {
		var w writes
		switch {
		case op.GetRequestPut() != nil:
			w.puts = map[string]struct{}{string(op.GetRequestPut().GetKey()): {}}
		case op.GetRequestDeleteRange() != nil:
			d := op.GetRequestDeleteRange()
			w.dels = []keyRange{{d.GetKey(), d.GetRangeEnd()}}
		case op.GetRequestTxn() != nil:
			then, err := branchWrites(op.GetRequestTxn().GetSuccess())
			if err != nil {
				return writes{}, err
			}
			els, err := branchWrites(op.GetRequestTxn().GetFailure())
			if err != nil {
				return writes{}, err
			}
			w.puts = then.puts
			if w.puts == nil {
				w.puts = els.puts
			} else {
				for k := range els.puts {
					w.puts[k] = struct{}{}
				}
			}
			w.dels = append(then.dels, els.dels...)
		default:
			continue
		}
		per = append(per, w)
	}

	out := writes{puts: map[string]struct{}{}}
	owner := map[string]int{}
	var ivs []interval
	for i, w := range per {
		for k := range w.puts {
			if _, dup := out.puts[k]; dup {
				return writes{}, etcderr.DuplicateKey
			}
			out.puts[k] = struct{}{}
			owner[k] = i
		}
		for _, d := range w.dels {
			if lo, hi, ok := d.bounds(); ok {
				ivs = append(ivs, interval{lo: lo, hi: hi, owner: i})
			}
		}
		out.dels = append(out.dels, w.dels...)
	}
	if len(ivs) > 0 && len(out.puts) > 0 {
		st := newStabber(ivs)
		for k, o := range owner {
			if st.coveredByOther([]byte(k), o) {
				return writes{}, etcderr.DuplicateKey
			}
		}
	}
	return out, nil
}

// interval is a non-empty deleted range [lo, hi) (hi nil: unbounded) of the
// op numbered owner.
type interval struct {
	lo, hi []byte
	owner  int
}

// endsAfter reports whether the interval's end lies beyond key.
func (iv interval) endsAfter(key []byte) bool {
	return iv.hi == nil || bytes.Compare(iv.hi, key) > 0
}

// later reports whether a ends after b.
func later(a, b []byte) bool {
	switch {
	case b == nil:
		return false
	case a == nil:
		return true
	}
	return bytes.Compare(a, b) > 0
}

// stabber answers "is key inside a range deleted by an op other than o" in
// O(log n): intervals sorted by start and, for every prefix of them, the
// one ending last and the one ending last among the other owners.
type stabber struct {
	ivs          []interval
	best, second []int // per prefix length-1: index into ivs, -1 for none
}

func newStabber(ivs []interval) *stabber {
	slices.SortFunc(ivs, func(a, b interval) int { return bytes.Compare(a.lo, b.lo) })
	s := &stabber{ivs: ivs, best: make([]int, len(ivs)), second: make([]int, len(ivs))}
	b1, b2 := -1, -1
	for i, iv := range ivs {
		switch {
		case b1 == -1 || later(iv.hi, ivs[b1].hi):
			if b1 != -1 && ivs[b1].owner != iv.owner {
				b2 = b1
			}
			b1 = i
		case iv.owner != ivs[b1].owner && (b2 == -1 || later(iv.hi, ivs[b2].hi)):
			b2 = i
		}
		s.best[i], s.second[i] = b1, b2
	}
	return s
}

func (s *stabber) coveredByOther(key []byte, o int) bool {
	// n intervals start at or before key.
	n, _ := slices.BinarySearchFunc(s.ivs, key, func(iv interval, k []byte) int {
		if bytes.Compare(iv.lo, k) <= 0 {
			return -1
		}
		return 1
	})
	if n == 0 {
		return false
	}
	b1, b2 := s.best[n-1], s.second[n-1]
	if s.ivs[b1].owner != o {
		return s.ivs[b1].endsAfter(key)
	}
	return b2 != -1 && s.ivs[b2].endsAfter(key)
}
