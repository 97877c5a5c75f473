package apply

import (
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// execute applies one command inside the batch and returns its response.
func (a *Applier) execute(b *mvcc.Batch, cmd *chainfirev1.RaftCommand) (proto.Message, error) {
	if err := a.members.refuse(cmd); err != nil {
		return nil, err
	}
	switch c := cmd.GetCommand().(type) {
	case *chainfirev1.RaftCommand_Put:
		return a.writeTxn(b, func(tx *mvcc.WriteTxn) (withHeader, error) { return put(tx, a.leases, c.Put) })
	case *chainfirev1.RaftCommand_DeleteRange:
		return a.writeTxn(b, func(tx *mvcc.WriteTxn) (withHeader, error) { return deleteRange(tx, c.DeleteRange) })
	case *chainfirev1.RaftCommand_Txn:
		return a.writeTxn(b, func(tx *mvcc.WriteTxn) (withHeader, error) {
			path, err := evalPath(tx, c.Txn)
			if err != nil {
				return nil, err
			}
			if err := checkPath(tx, a.leases, c.Txn, path, a.compactRev); err != nil {
				return nil, err
			}
			return execTxn(tx, a.leases, c.Txn, path)
		})
	case *chainfirev1.RaftCommand_Compaction:
		if err := b.Compact(c.Compaction.GetRevision()); err != nil {
			return nil, storeError(err)
		}
		a.compactRev = c.Compaction.GetRevision()
		return &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: b.Rev()}}, nil
	case *chainfirev1.RaftCommand_PublishAttributes:
		if err := a.members.publish(b, c.PublishAttributes); err != nil {
			return nil, err
		}
		return nil, nil
	case *chainfirev1.RaftCommand_MemberRecord:
		return nil, a.members.record(b, c.MemberRecord)
	case *chainfirev1.RaftCommand_MemberForget:
		return nil, a.members.forget(b, c.MemberForget.GetId())
	case *chainfirev1.RaftCommand_Alarm:
		return a.members.alarm(b, c.Alarm)
	case *chainfirev1.RaftCommand_LeaseGrant:
		return a.grantLease(b, c.LeaseGrant)
	case *chainfirev1.RaftCommand_LeaseRevoke:
		return a.revokeLease(b, c.LeaseRevoke.GetID())
	case *chainfirev1.RaftCommand_LeaseCheckpoints:
		return nil, a.leases.Checkpoint(b.Tx(), c.LeaseCheckpoints.GetCheckpoints())
	}
	return nil, errors.New("apply: unknown command")
}

// withHeader is any etcd response; the header's revision is set on apply.
type withHeader interface {
	proto.Message
	GetHeader() *pb.ResponseHeader
}

// writeTxn runs fn as one etcd transaction (one revision if it writes) and
// stamps the resulting store revision into the response header.
func (a *Applier) writeTxn(b *mvcc.Batch, fn func(tx *mvcc.WriteTxn) (withHeader, error)) (proto.Message, error) {
	var resp withHeader
	res, err := b.Txn(func(tx *mvcc.WriteTxn) error {
		var err error
		resp, err = fn(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	a.leases.Track(res.Events)
	resp.GetHeader().Revision = res.Rev
	return resp, nil
}
