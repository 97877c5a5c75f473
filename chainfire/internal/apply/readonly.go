package apply

import pb "github.com/photoncloud/core/proto/etcdserverpb"

// IsReadOnly reports whether a txn, nested ones included, only reads; such
// a txn is served from a read view without going through Raft.
func IsReadOnly(req *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{req.GetSuccess(), req.GetFailure()} {
		for _, op := range ops {
			switch {
			case op.GetRequestPut() != nil, op.GetRequestDeleteRange() != nil:
				return false
			case op.GetRequestTxn() != nil && !IsReadOnly(op.GetRequestTxn()):
				return false
			}
		}
	}
	return true
}

// IsSerializable reports whether every range of a read-only txn asked for
// serializable reads, so the txn may skip the linearizable read barrier.
func IsSerializable(req *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{req.GetSuccess(), req.GetFailure()} {
		for _, op := range ops {
			if r := op.GetRequestRange(); r != nil && !r.GetSerializable() {
				return false
			}
			if t := op.GetRequestTxn(); t != nil && !IsSerializable(t) {
				return false
			}
		}
	}
	return true
}

// ReadOnlyTxn evaluates a read-only txn against r, a view at revision rev
// of a store whose compact revision is compactRev (mvcc.Store.CompactRev).
func ReadOnlyTxn(r Reader, rev, compactRev int64, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	path, err := evalPath(r, req)
	if err != nil {
		return nil, err
	}
	if err := checkPath(r, nil, req, path, compactRev); err != nil { // no puts: no leases to check
		return nil, err
	}
	resp, err := runOps(r, nil, nil, req, path)
	if err != nil {
		return nil, err
	}
	resp.Header.Revision = rev
	return resp, nil
}
