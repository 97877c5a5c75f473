package pd

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"connectrpc.com/connect"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// maxScanRegions bounds the regions one ScanRegions returns when the caller
// sets no limit, so a response stays well under the RPC size limit.
const maxScanRegions = 10000

// Service serves flaredb.v1.PDService from a Cluster. It can be mounted
// before the Cluster has loaded its state (calls then fail with
// Unavailable), so the server answers health checks while PD waits for
// Chainfire.
type Service struct {
	cl atomic.Pointer[Cluster]
}

var _ flaredbv1connect.PDServiceHandler = (*Service)(nil)

// NewService returns the PD RPC service for c (nil: not loaded yet).
func NewService(c *Cluster) *Service {
	s := &Service{}
	if c != nil {
		s.cl.Store(c)
	}
	return s
}

// SetCluster makes the service serve c.
func (s *Service) SetCluster(c *Cluster) { s.cl.Store(c) }

// errLoading is returned while PD has not loaded its state yet.
var errLoading = connect.NewError(connect.CodeUnavailable, errors.New("pd is loading its state from chainfire"))

// begin returns the cluster after rejecting requests meant for another
// cluster.
func (s *Service) begin(h *flaredbv1.PDHeader) (*Cluster, error) {
	c := s.cl.Load()
	if c == nil {
		return nil, errLoading
	}
	if want, got := c.ClusterID(), h.GetClusterId(); got != 0 && want != 0 && got != want {
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("request for cluster %d, this is cluster %d", got, want))
	}
	return c, nil
}

// rpcError maps PD errors to RPC codes.
func rpcError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrInvalid):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, ErrNotBootstrapped), errors.Is(err, errStale), errors.Is(err, ErrTombstone):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	default:
		// The backend (Chainfire) failed; the call may be retried.
		return connect.NewError(connect.CodeUnavailable, err)
	}
}

func (s *Service) Bootstrap(ctx context.Context, req *connect.Request[flaredbv1.BootstrapRequest]) (*connect.Response[flaredbv1.BootstrapResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	id, created, err := c.Bootstrap(ctx, req.Msg.GetStore(), req.Msg.GetRegion())
	if err != nil {
		return nil, rpcError(err)
	}
	return connect.NewResponse(&flaredbv1.BootstrapResponse{ClusterId: id, Bootstrapped: created}), nil
}

func (s *Service) AllocID(ctx context.Context, req *connect.Request[flaredbv1.AllocIDRequest]) (*connect.Response[flaredbv1.AllocIDResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	ids, err := c.AllocIDs(ctx, 1)
	if err != nil {
		return nil, rpcError(err)
	}
	return connect.NewResponse(&flaredbv1.AllocIDResponse{Id: ids[0]}), nil
}

func (s *Service) GetRegion(_ context.Context, req *connect.Request[flaredbv1.GetRegionRequest]) (*connect.Response[flaredbv1.GetRegionResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	r := c.Region(req.Msg.GetKey(), req.Msg.GetBefore())
	if r == nil {
		return nil, rpcError(notFound(c, fmt.Sprintf("no region for key %q", req.Msg.GetKey())))
	}
	return connect.NewResponse(&flaredbv1.GetRegionResponse{Region: r.GetRegion(), Leader: r.GetLeader(), DownPeers: r.GetDownPeers()}), nil
}

// notFound says why a lookup found nothing: before bootstrap that is the
// reason, afterwards the routing table has a hole (a split is in flight).
func notFound(c *Cluster, what string) error {
	if c.ClusterID() == 0 {
		return ErrNotBootstrapped
	}
	return fmt.Errorf("%w: %s", ErrNotFound, what)
}

func (s *Service) GetRegionByID(_ context.Context, req *connect.Request[flaredbv1.GetRegionByIDRequest]) (*connect.Response[flaredbv1.GetRegionByIDResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	r := c.RegionByID(req.Msg.GetRegionId())
	if r == nil {
		return nil, rpcError(notFound(c, fmt.Sprintf("region %d", req.Msg.GetRegionId())))
	}
	return connect.NewResponse(&flaredbv1.GetRegionByIDResponse{Region: r.GetRegion(), Leader: r.GetLeader(), DownPeers: r.GetDownPeers()}), nil
}

func (s *Service) ScanRegions(_ context.Context, req *connect.Request[flaredbv1.ScanRegionsRequest]) (*connect.Response[flaredbv1.ScanRegionsResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if len(m.GetEndKey()) > 0 && string(m.GetStartKey()) > string(m.GetEndKey()) {
		return nil, rpcError(fmt.Errorf("%w: start key after end key", ErrInvalid))
	}
	limit := int(m.GetLimit())
	if limit <= 0 || limit > maxScanRegions {
		limit = maxScanRegions
	}
	return connect.NewResponse(&flaredbv1.ScanRegionsResponse{Regions: c.ScanRegions(m.GetStartKey(), m.GetEndKey(), limit)}), nil
}

func (s *Service) GetStore(_ context.Context, req *connect.Request[flaredbv1.GetStoreRequest]) (*connect.Response[flaredbv1.GetStoreResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	st := c.Store(req.Msg.GetStoreId())
	if st == nil {
		return nil, rpcError(fmt.Errorf("%w: store %d", ErrNotFound, req.Msg.GetStoreId()))
	}
	return connect.NewResponse(&flaredbv1.GetStoreResponse{Store: st.GetStore(), Status: st}), nil
}

func (s *Service) GetAllStores(_ context.Context, req *connect.Request[flaredbv1.GetAllStoresRequest]) (*connect.Response[flaredbv1.GetAllStoresResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	resp := &flaredbv1.GetAllStoresResponse{Statuses: c.Stores()}
	for _, st := range resp.Statuses {
		resp.Stores = append(resp.Stores, st.GetStore())
	}
	return connect.NewResponse(resp), nil
}

func (s *Service) StoreHeartbeat(ctx context.Context, req *connect.Request[flaredbv1.StoreHeartbeatRequest]) (*connect.Response[flaredbv1.StoreHeartbeatResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	if err := c.StoreHeartbeat(ctx, req.Msg.GetStore(), req.Msg.GetStats()); err != nil {
		return nil, rpcError(err)
	}
	return connect.NewResponse(&flaredbv1.StoreHeartbeatResponse{}), nil
}

func (s *Service) RegionHeartbeat(ctx context.Context, req *connect.Request[flaredbv1.RegionHeartbeatRequest]) (*connect.Response[flaredbv1.RegionHeartbeatResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	m := req.Msg
	op, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{
		Region:          m.GetRegion(),
		Leader:          m.GetLeader(),
		ApproximateSize: m.GetApproximateSize(),
		ApproximateKeys: m.GetApproximateKeys(),
		DownPeers:       m.GetDownPeers(),
	})
	if err != nil {
		return nil, rpcError(err)
	}
	return connect.NewResponse(&flaredbv1.RegionHeartbeatResponse{ChangePeer: op}), nil
}

func (s *Service) AskSplit(ctx context.Context, req *connect.Request[flaredbv1.AskSplitRequest]) (*connect.Response[flaredbv1.AskSplitResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	id, peers, err := c.AskSplit(ctx, req.Msg.GetRegion())
	if err != nil {
		return nil, rpcError(err)
	}
	return connect.NewResponse(&flaredbv1.AskSplitResponse{NewRegionId: id, NewPeerIds: peers}), nil
}

func (s *Service) ReportSplit(ctx context.Context, req *connect.Request[flaredbv1.ReportSplitRequest]) (*connect.Response[flaredbv1.ReportSplitResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	if err := c.ReportSplit(ctx, req.Msg.GetLeft(), req.Msg.GetRight()); err != nil {
		return nil, rpcError(err)
	}
	return connect.NewResponse(&flaredbv1.ReportSplitResponse{}), nil
}

func (s *Service) GetClusterInfo(_ context.Context, req *connect.Request[flaredbv1.GetClusterInfoRequest]) (*connect.Response[flaredbv1.GetClusterInfoResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	id := c.ClusterID()
	return connect.NewResponse(&flaredbv1.GetClusterInfoResponse{
		ClusterId:    id,
		Bootstrapped: id != 0,
		MaxReplicas:  uint32(c.MaxReplicas()),
		RegionCount:  uint32(c.RegionCount()),
		StoreCount:   uint32(len(c.Stores())),
	}), nil
}

func (s *Service) SetStoreState(ctx context.Context, req *connect.Request[flaredbv1.SetStoreStateRequest]) (*connect.Response[flaredbv1.SetStoreStateResponse], error) {
	c, err := s.begin(req.Msg.GetHeader())
	if err != nil {
		return nil, err
	}
	st, err := c.SetStoreState(ctx, req.Msg.GetStoreId(), req.Msg.GetState())
	if err != nil {
		return nil, rpcError(err)
	}
	return connect.NewResponse(&flaredbv1.SetStoreStateResponse{Store: st}), nil
}
