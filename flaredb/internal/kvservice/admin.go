package kvservice

import (
	"context"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/internal/region"
	"github.com/photoncloud/core/flaredb/internal/store"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// Admin implements flaredbv1connect.AdminServiceHandler on a store.
type Admin struct {
	st *store.Store
}

var _ flaredbv1connect.AdminServiceHandler = (*Admin)(nil)

// NewAdmin returns the admin service of st.
func NewAdmin(st *store.Store) *Admin { return &Admin{st: st} }

func (a *Admin) ListRegions(ctx context.Context, _ *connect.Request[flaredbv1.ListRegionsRequest]) (*connect.Response[flaredbv1.ListRegionsResponse], error) {
	resp := &flaredbv1.ListRegionsResponse{}
	for _, p := range a.st.Peers() {
		resp.Regions = append(resp.Regions, p.Status())
	}
	return connect.NewResponse(resp), nil
}

func (a *Admin) RegionStatus(ctx context.Context, req *connect.Request[flaredbv1.RegionStatusRequest]) (*connect.Response[flaredbv1.RegionStatusResponse], error) {
	p := a.st.Peer(req.Msg.GetRegionId())
	if p == nil {
		return nil, connect.NewError(connect.CodeNotFound, region.RegionNotFoundError(req.Msg.GetRegionId()))
	}
	return connect.NewResponse(&flaredbv1.RegionStatusResponse{Status: p.Status()}), nil
}

// SplitRegion answers region errors (not leader, ...) as FailedPrecondition
// carrying the region error's message: the admin API has no region_error
// field, and an operator needs the text, not a retry loop.
func (a *Admin) SplitRegion(ctx context.Context, req *connect.Request[flaredbv1.SplitRegionRequest]) (*connect.Response[flaredbv1.SplitRegionResponse], error) {
	m := req.Msg
	if m.GetRegionId() == 0 {
		return nil, rpcError(store.ErrBadContext)
	}
	if err := validKey(m.GetSplitKey()); err != nil {
		return nil, rpcError(err)
	}
	left, right, err := a.st.Split(ctx, m.GetRegionId(), m.GetSplitKey())
	if err != nil {
		if _, ok := region.AsRegionError(err); ok {
			return nil, connect.NewError(connect.CodeFailedPrecondition, err)
		}
		return nil, rpcError(err)
	}
	return connect.NewResponse(&flaredbv1.SplitRegionResponse{Left: left, Right: right}), nil
}

func (a *Admin) CreatePeer(ctx context.Context, req *connect.Request[flaredbv1.CreatePeerRequest]) (*connect.Response[flaredbv1.CreatePeerResponse], error) {
	if err := a.st.CreatePeer(ctx, req.Msg.GetRegionId(), req.Msg.GetPeerId(), req.Msg.GetRegion()); err != nil {
		return nil, rpcError(err)
	}
	return connect.NewResponse(&flaredbv1.CreatePeerResponse{}), nil
}
