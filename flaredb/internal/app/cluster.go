package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/internal/store"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

const storeIDFile = "store-id"

// storeID returns the id saved in the data dir, else --store-id, else one
// allocated by PD (1 for a standalone store), and saves it: a store keeps
// its id for life, because its peers' Raft configurations name it.
func storeID(ctx context.Context, cfg Config, pd store.PDClient) (uint64, error) {
	path := filepath.Join(cfg.DataDir, storeIDFile)
	if raw, err := os.ReadFile(path); err == nil {
		id, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil || id == 0 {
			return 0, fmt.Errorf("%s is corrupt: %q", path, raw)
		}
		if cfg.StoreID != 0 && cfg.StoreID != id {
			return 0, fmt.Errorf("--store-id %d but %s says %d", cfg.StoreID, path, id)
		}
		return id, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	id := cfg.StoreID
	switch {
	case id != 0:
	case pd == nil:
		id = 1
	default:
		resp, err := retry(ctx, func(ctx context.Context) (*flaredbv1.AllocIDResponse, error) {
			return pd.AllocID(ctx, &flaredbv1.AllocIDRequest{})
		})
		if err != nil {
			return 0, fmt.Errorf("allocate store id: %w", err)
		}
		id = resp.GetId()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return 0, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(id, 10)), 0o600); err != nil {
		return 0, err
	}
	return id, os.Rename(tmp, path)
}

// joinCluster makes sure the cluster exists and this store is known. The
// first store to call PD's Bootstrap creates the cluster with a
// one-replica region covering the key space; the store that hosts that
// region's only peer creates it locally (also after a crash between the
// two steps). PD's replica checker then adds the other replicas.
func joinCluster(ctx context.Context, st *store.Store, pd store.PDClient) error {
	if pd == nil {
		return standalone(ctx, st)
	}
	pc, ok := pd.(*pdClient)
	if !ok {
		return nil
	}
	if _, err := retry(ctx, func(ctx context.Context) (*flaredbv1.BootstrapResponse, error) {
		return unary(ctx, pc.c.Bootstrap, &flaredbv1.BootstrapRequest{Store: st.StoreMeta()})
	}); err != nil {
		return fmt.Errorf("bootstrap with PD: %w", err)
	}
	if len(st.Peers()) > 0 {
		return nil
	}
	first, err := retry(ctx, func(ctx context.Context) (*flaredbv1.GetRegionResponse, error) {
		return unary(ctx, pc.c.GetRegion, &flaredbv1.GetRegionRequest{Key: nil})
	})
	if err != nil {
		return fmt.Errorf("find the first region: %w", err)
	}
	r := first.GetRegion()
	if r.GetEpoch().GetVersion() == 1 && r.GetEpoch().GetConfVer() == 1 && len(r.GetPeers()) == 1 && r.GetPeers()[0].GetStoreId() == st.ID() {
		return st.Bootstrap(ctx, r)
	}
	return nil
}

// standalone hosts a single region with a single replica when there is
// no PD (zero-configuration runs); it cannot split.
func standalone(ctx context.Context, st *store.Store) error {
	if len(st.Peers()) > 0 {
		return nil
	}
	return st.Bootstrap(ctx, &flaredbv1.Region{
		Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1},
		Peers: []*flaredbv1.Peer{{Id: 1, StoreId: st.ID(), Role: flaredbv1.PeerRole_PEER_ROLE_VOTER}},
	})
}

// retry calls fn until it succeeds or ctx ends, backing off up to 2s: PD
// may start after the store.
func retry[T any](ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	wait := 100 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := fn(cctx)
		cancel()
		if err == nil {
			return v, nil
		}
		var ce *connect.Error
		if errors.As(err, &ce) && ce.Code() == connect.CodeInvalidArgument {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}

func unary[Req, Resp any](ctx context.Context, call func(context.Context, *connect.Request[Req]) (*connect.Response[Resp], error), req *Req) (*Resp, error) {
	resp, err := call(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// pdClient talks to the first PD endpoint that answers, moving on when a
// call fails for a transport reason.
type pdClient struct {
	store.PDClient
	c flaredbv1connect.PDServiceClient
}

func newPDClient(endpoints []string) *pdClient {
	// One endpoint per client; a PD cluster sits behind one address (or a
	// load balancer) in the deployments this targets.
	c := flaredbv1connect.NewPDServiceClient(httpClient, baseURL(strings.TrimSpace(endpoints[0])))
	return &pdClient{PDClient: store.NewPDClient(c), c: c}
}

// createPeer asks the target store's admin service to create an empty
// replica, with the leader's metadata of the region.
func createPeer(ctx context.Context, target *flaredbv1.Store, regionID, peerID uint64, leader *flaredbv1.Region) error {
	if target.GetAddress() == "" {
		return fmt.Errorf("store %d has no client address", target.GetId())
	}
	c := flaredbv1connect.NewAdminServiceClient(httpClient, baseURL(target.GetAddress()))
	_, err := c.CreatePeer(ctx, connect.NewRequest(&flaredbv1.CreatePeerRequest{RegionId: regionID, PeerId: peerID, Region: leader}))
	return err
}
