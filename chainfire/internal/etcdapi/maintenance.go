package etcdapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/member"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// APIVersion is the etcd API version Chainfire implements; clients gate
// features on the version Status reports.
const APIVersion = "3.7.0"

// snapshotChunk is the size of each Snapshot message's blob, as in etcd.
const snapshotChunk = 32 * 1024

// Maintenance serves etcdserverpb.Maintenance.
type Maintenance struct {
	etcdserverpbconnect.UnimplementedMaintenanceHandler
	m     *member.Member
	quota int64
}

func (s *Maintenance) Status(ctx context.Context, _ *connect.Request[pb.StatusRequest]) (*connect.Response[pb.StatusResponse], error) {
	store := s.m.Store()
	size, err := store.Size()
	if err != nil {
		return nil, toConnect(err)
	}
	inUse, err := store.SizeInUse()
	if err != nil {
		return nil, toConnect(err)
	}
	node := s.m.Node()
	resp := &pb.StatusResponse{
		Header:           s.m.Header(store.Rev()),
		Version:          APIVersion,
		DbSize:           size,
		DbSizeInUse:      inUse,
		DbSizeQuota:      s.quota,
		Leader:           s.m.LeaderID(),
		RaftIndex:        node.CommitIndex(),
		RaftTerm:         store.AppliedTerm(),
		RaftAppliedIndex: s.m.AppliedIndex(),
		StorageVersion:   APIVersion,
		IsLearner:        s.m.IsLearner(),
	}
	if !s.m.HasLeader() {
		resp.Errors = append(resp.Errors, etcderr.NoLeader.Msg)
	}
	for _, a := range s.m.Alarms() {
		resp.Errors = append(resp.Errors, fmt.Sprintf("memberID:%d alarm:%s ", a.GetMemberID(), a.GetAlarm()))
	}
	return connect.NewResponse(resp), nil
}

// Alarm lists, raises or clears alarms; changes go through Raft so every
// member sees the same alarms.
func (s *Maintenance) Alarm(ctx context.Context, req *connect.Request[pb.AlarmRequest]) (*connect.Response[pb.AlarmResponse], error) {
	switch req.Msg.GetAction() {
	case pb.AlarmRequest_GET, pb.AlarmRequest_ACTIVATE, pb.AlarmRequest_DEACTIVATE:
	default:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("etcdserver: unknown alarm action %d", req.Msg.GetAction()))
	}
	resp, err := s.m.Alarm(ctx, req.Msg)
	if err != nil {
		return nil, toConnect(err)
	}
	resp.Header = s.m.Header(s.m.Store().Rev())
	return connect.NewResponse(resp), nil
}

// Defragment rewrites this member's store file without the space
// compaction freed. Like etcd's it is local to the member asked.
func (s *Maintenance) Defragment(ctx context.Context, _ *connect.Request[pb.DefragmentRequest]) (*connect.Response[pb.DefragmentResponse], error) {
	if err := s.m.Store().Defrag(ctx); err != nil {
		return nil, toConnect(fmt.Errorf("defragment: %w", err))
	}
	return connect.NewResponse(&pb.DefragmentResponse{Header: s.m.Header(s.m.Store().Rev())}), nil
}

// Hash answers the hash of the key history up to the current revision.
// Unlike etcd's whole-file hash it leaves out member-local records (a
// member's own applied index, its compaction progress), so it too is equal
// on members at the same revision.
func (s *Maintenance) Hash(ctx context.Context, _ *connect.Request[pb.HashRequest]) (*connect.Response[pb.HashResponse], error) {
	h, err := s.m.Store().HashKV(0)
	if err != nil {
		return nil, hashError(err)
	}
	return connect.NewResponse(&pb.HashResponse{Header: s.m.Header(h.Revision), Hash: h.Hash}), nil
}

// HashKV hashes the key history up to a revision (0: current).
func (s *Maintenance) HashKV(ctx context.Context, req *connect.Request[pb.HashKVRequest]) (*connect.Response[pb.HashKVResponse], error) {
	h, err := s.m.Store().HashKV(req.Msg.GetRevision())
	if err != nil {
		return nil, hashError(err)
	}
	return connect.NewResponse(&pb.HashKVResponse{
		Header:          s.m.Header(s.m.Store().Rev()),
		Hash:            h.Hash,
		CompactRevision: h.CompactRevision,
		HashRevision:    h.Revision,
	}), nil
}

func hashError(err error) error {
	switch {
	case errors.Is(err, mvcc.ErrCompacted):
		return etcderr.Compacted.Connect()
	case errors.Is(err, mvcc.ErrFutureRev):
		return etcderr.FutureRev.Connect()
	}
	return toConnect(err)
}

// MoveLeader hands leadership to another voter; only the leader can.
func (s *Maintenance) MoveLeader(ctx context.Context, req *connect.Request[pb.MoveLeaderRequest]) (*connect.Response[pb.MoveLeaderResponse], error) {
	if err := s.m.MoveLeader(ctx, req.Msg.GetTargetID()); err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.MoveLeaderResponse{Header: s.m.Header(s.m.Store().Rev())}), nil
}

// Snapshot streams a consistent copy of the store file in 32 KiB chunks
// followed, as etcd does, by the file's SHA-256, which restore checks.
func (s *Maintenance) Snapshot(ctx context.Context, _ *connect.Request[pb.SnapshotRequest], stream *connect.ServerStream[pb.SnapshotResponse]) error {
	sn, err := s.m.Store().Snapshot()
	if err != nil {
		return toConnect(fmt.Errorf("snapshot: %w", err))
	}
	pr, pw := io.Pipe()
	h := sha256.New()
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, err := sn.WriteTo(io.MultiWriter(pw, h))
		_ = pw.CloseWithError(err)
	}()
	defer func() {
		_ = pr.CloseWithError(errors.New("snapshot: stream ended"))
		<-copied
		_ = sn.Close()
	}()
	remaining := uint64(sn.Size()) + sha256.Size
	header := s.m.Header(sn.Revision())
	buf := make([]byte, snapshotChunk)
	for {
		n, err := io.ReadFull(pr, buf)
		if n > 0 {
			remaining -= uint64(n)
			if serr := stream.Send(&pb.SnapshotResponse{Header: header, RemainingBytes: remaining, Blob: buf[:n], Version: APIVersion}); serr != nil {
				return serr
			}
			header = nil
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return toConnect(fmt.Errorf("snapshot: %w", err))
		}
	}
	<-copied
	return stream.Send(&pb.SnapshotResponse{Header: header, RemainingBytes: 0, Blob: h.Sum(nil), Version: APIVersion})
}
