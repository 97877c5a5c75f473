package apply

import (
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/lease"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// grantLease creates a lease with the id the proposer chose.
func (a *Applier) grantLease(b *mvcc.Batch, req *pb.LeaseGrantRequest) (proto.Message, error) {
	if req.GetID() == 0 {
		return nil, errors.New("apply: lease grant without an id")
	}
	ttl, err := a.leases.Grant(b.Tx(), req.GetID(), req.GetTTL())
	if err != nil {
		return nil, leaseError(err)
	}
	return &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{Revision: b.Rev()}, ID: req.GetID(), TTL: ttl}, nil
}

// revokeLease deletes every key attached to lease id in one revision, then
// the lease, as etcd's Revoke does.
func (a *Applier) revokeLease(b *mvcc.Batch, id int64) (proto.Message, error) {
	l, ok := a.leases.Get(id)
	if !ok {
		return nil, etcderr.LeaseNotFound
	}
	res, err := b.Txn(func(tx *mvcc.WriteTxn) error {
		for _, k := range l.Keys {
			if _, _, err := tx.DeleteRange([]byte(k), nil); err != nil {
				return storeError(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.leases.Track(res.Events)
	if err := a.leases.Remove(b.Tx(), id); err != nil {
		return nil, leaseError(err)
	}
	return &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: res.Rev}}, nil
}

// Leases is the member's lessor, kept in step with the applied log.
func (a *Applier) Leases() *lease.Lessor { return a.leases }

func leaseError(err error) error {
	switch {
	case errors.Is(err, lease.ErrNotFound):
		return etcderr.LeaseNotFound
	case errors.Is(err, lease.ErrExists):
		return etcderr.LeaseExist
	case errors.Is(err, lease.ErrTTLTooLarge):
		return etcderr.LeaseTTLTooLarge
	}
	return err
}
