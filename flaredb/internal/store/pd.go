package store

import (
	"context"

	"connectrpc.com/connect"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// PDClient is what a store needs from the placement driver. The messages
// are PD's own protobuf types, so the connect client fits with no
// translation (see NewPDClient); tests use a fake.
type PDClient interface {
	AllocID(ctx context.Context, req *flaredbv1.AllocIDRequest) (*flaredbv1.AllocIDResponse, error)
	GetStore(ctx context.Context, req *flaredbv1.GetStoreRequest) (*flaredbv1.GetStoreResponse, error)
	GetRegionByID(ctx context.Context, req *flaredbv1.GetRegionByIDRequest) (*flaredbv1.GetRegionByIDResponse, error)
	StoreHeartbeat(ctx context.Context, req *flaredbv1.StoreHeartbeatRequest) (*flaredbv1.StoreHeartbeatResponse, error)
	RegionHeartbeat(ctx context.Context, req *flaredbv1.RegionHeartbeatRequest) (*flaredbv1.RegionHeartbeatResponse, error)
	AskSplit(ctx context.Context, req *flaredbv1.AskSplitRequest) (*flaredbv1.AskSplitResponse, error)
	ReportSplit(ctx context.Context, req *flaredbv1.ReportSplitRequest) (*flaredbv1.ReportSplitResponse, error)
}

// NewPDClient adapts PD's generated connect client to PDClient.
func NewPDClient(c flaredbv1connect.PDServiceClient) PDClient { return connectPD{c} }

type connectPD struct {
	c flaredbv1connect.PDServiceClient
}

func unary[Req, Resp any](ctx context.Context, call func(context.Context, *connect.Request[Req]) (*connect.Response[Resp], error), req *Req) (*Resp, error) {
	resp, err := call(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func (p connectPD) AllocID(ctx context.Context, req *flaredbv1.AllocIDRequest) (*flaredbv1.AllocIDResponse, error) {
	return unary(ctx, p.c.AllocID, req)
}

func (p connectPD) GetStore(ctx context.Context, req *flaredbv1.GetStoreRequest) (*flaredbv1.GetStoreResponse, error) {
	return unary(ctx, p.c.GetStore, req)
}

func (p connectPD) GetRegionByID(ctx context.Context, req *flaredbv1.GetRegionByIDRequest) (*flaredbv1.GetRegionByIDResponse, error) {
	return unary(ctx, p.c.GetRegionByID, req)
}

func (p connectPD) StoreHeartbeat(ctx context.Context, req *flaredbv1.StoreHeartbeatRequest) (*flaredbv1.StoreHeartbeatResponse, error) {
	return unary(ctx, p.c.StoreHeartbeat, req)
}

func (p connectPD) RegionHeartbeat(ctx context.Context, req *flaredbv1.RegionHeartbeatRequest) (*flaredbv1.RegionHeartbeatResponse, error) {
	return unary(ctx, p.c.RegionHeartbeat, req)
}

func (p connectPD) AskSplit(ctx context.Context, req *flaredbv1.AskSplitRequest) (*flaredbv1.AskSplitResponse, error) {
	return unary(ctx, p.c.AskSplit, req)
}

func (p connectPD) ReportSplit(ctx context.Context, req *flaredbv1.ReportSplitRequest) (*flaredbv1.ReportSplitResponse, error) {
	return unary(ctx, p.c.ReportSplit, req)
}
