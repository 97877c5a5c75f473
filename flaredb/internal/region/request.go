package region

import (
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// The functions below turn client write requests into the Raft commands a
// store proposes. The store then runs CheckCommand (reject early, without a
// Raft round trip), proposes the command, and answers from the Result that
// Apply returned; Apply repeats every check in log order.

func commandHeader(rc *flaredbv1.Context) *flaredbv1.RaftCommandHeader {
	return &flaredbv1.RaftCommandHeader{RegionId: rc.GetRegionId(), Epoch: rc.GetRegionEpoch()}
}

func writeCommand(rc *flaredbv1.Context, muts []*flaredbv1.Mutation) *flaredbv1.RaftCommand {
	return &flaredbv1.RaftCommand{
		Header:  commandHeader(rc),
		Command: &flaredbv1.RaftCommand_Write{Write: &flaredbv1.WriteBatch{Mutations: muts}},
	}
}

func putMutation(key, value []byte) *flaredbv1.Mutation {
	return &flaredbv1.Mutation{Op: &flaredbv1.Mutation_Put{Put: &flaredbv1.PutMutation{Key: key, Value: value}}}
}

func deleteMutation(key []byte) *flaredbv1.Mutation {
	return &flaredbv1.Mutation{Op: &flaredbv1.Mutation_Delete{Delete: &flaredbv1.DeleteMutation{Key: key}}}
}

// PutCommand is the command for a Put.
func PutCommand(req *flaredbv1.PutRequest) *flaredbv1.RaftCommand {
	return writeCommand(req.GetContext(), []*flaredbv1.Mutation{putMutation(req.GetKey(), req.GetValue())})
}

// BatchPutCommand is the command for a BatchPut: all pairs or none.
func BatchPutCommand(req *flaredbv1.BatchPutRequest) *flaredbv1.RaftCommand {
	muts := make([]*flaredbv1.Mutation, 0, len(req.GetPairs()))
	for _, p := range req.GetPairs() {
		muts = append(muts, putMutation(p.GetKey(), p.GetValue()))
	}
	return writeCommand(req.GetContext(), muts)
}

// DeleteCommand is the command for a Delete.
func DeleteCommand(req *flaredbv1.DeleteRequest) *flaredbv1.RaftCommand {
	return writeCommand(req.GetContext(), []*flaredbv1.Mutation{deleteMutation(req.GetKey())})
}

// BatchDeleteCommand is the command for a BatchDelete.
func BatchDeleteCommand(req *flaredbv1.BatchDeleteRequest) *flaredbv1.RaftCommand {
	muts := make([]*flaredbv1.Mutation, 0, len(req.GetKeys()))
	for _, k := range req.GetKeys() {
		muts = append(muts, deleteMutation(k))
	}
	return writeCommand(req.GetContext(), muts)
}

// DeleteRangeCommand is the command for a DeleteRange.
func DeleteRangeCommand(req *flaredbv1.DeleteRangeRequest) *flaredbv1.RaftCommand {
	return writeCommand(req.GetContext(), []*flaredbv1.Mutation{{Op: &flaredbv1.Mutation_DeleteRange{
		DeleteRange: &flaredbv1.DeleteRangeMutation{StartKey: req.GetStartKey(), EndKey: req.GetEndKey()},
	}}})
}

// CompareAndSwapCommand is the command for a CompareAndSwap.
func CompareAndSwapCommand(req *flaredbv1.CompareAndSwapRequest) *flaredbv1.RaftCommand {
	return &flaredbv1.RaftCommand{Header: commandHeader(req.GetContext()), Command: &flaredbv1.RaftCommand_Cas{
		Cas: &flaredbv1.CompareAndSwapCommand{
			Key: req.GetKey(), Value: req.GetValue(),
			PreviousValue: req.GetPreviousValue(), PreviousNotExists: req.GetPreviousNotExists(),
		},
	}}
}
