package ctl

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func (a *app) regionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "region", Short: "Inspect and split regions"}
	cmd.AddCommand(a.regionListCmd(), a.regionShowCmd(), a.regionSplitCmd(), a.regionStatusCmd())
	return cmd
}

// replicaStatus is one replica's state as its store reports it.
type replicaStatus struct {
	PeerID       uint64 `json:"peer_id"`
	StoreID      uint64 `json:"store_id"`
	Address      string `json:"address"`
	RaftState    string `json:"raft_state,omitempty"`
	AppliedIndex uint64 `json:"applied_index"`
	ConfVer      uint64 `json:"conf_ver"`
	Version      uint64 `json:"version"`
	Error        string `json:"error,omitempty"`
}

func (a *app) regionStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status ID",
		Short: "Ask every store holding a replica of the region for its Raft state and applied index",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("region id %q: %w", args[0], err)
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			pd := a.pdClient()
			reg, err := pd.GetRegionByID(ctx, connect.NewRequest(&flaredbv1.GetRegionByIDRequest{RegionId: id}))
			if err != nil {
				return err
			}
			var out []replicaStatus
			for _, p := range reg.Msg.GetRegion().GetPeers() {
				rs := replicaStatus{PeerID: p.GetId(), StoreID: p.GetStoreId()}
				st, err := pd.GetStore(ctx, connect.NewRequest(&flaredbv1.GetStoreRequest{StoreId: p.GetStoreId()}))
				if err != nil {
					rs.Error = err.Error()
					out = append(out, rs)
					continue
				}
				rs.Address = st.Msg.GetStore().GetAddress()
				resp, err := a.adminClient(rs.Address).RegionStatus(ctx, connect.NewRequest(&flaredbv1.RegionStatusRequest{RegionId: id}))
				if err != nil {
					rs.Error = err.Error()
				} else {
					s := resp.Msg.GetStatus()
					rs.RaftState, rs.AppliedIndex = s.GetRaftState(), s.GetAppliedIndex()
					rs.ConfVer, rs.Version = s.GetRegion().GetEpoch().GetConfVer(), s.GetRegion().GetEpoch().GetVersion()
				}
				out = append(out, rs)
			}
			if a.output == "json" {
				return writeJSON(a.stdout, out)
			}
			rows := make([][]string, len(out))
			for i, r := range out {
				state := r.RaftState
				if r.Error != "" {
					state = "error: " + r.Error
				}
				rows[i] = []string{strconv.FormatUint(r.PeerID, 10), strconv.FormatUint(r.StoreID, 10), r.Address, state,
					strconv.FormatUint(r.AppliedIndex, 10), fmt.Sprintf("%d/%d", r.ConfVer, r.Version)}
			}
			return writeTable(a.stdout, []string{"PEER", "STORE", "ADDRESS", "RAFT_STATE", "APPLIED_INDEX", "CONF_VER/VERSION"}, rows)
		},
	}
}

func (a *app) regionListCmd() *cobra.Command {
	var start, end string
	var limit uint32
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List regions in key order, from PD's routing table",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.arg(start)
			if err != nil {
				return err
			}
			e, err := a.arg(end)
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			resp, err := a.pdClient().ScanRegions(ctx, connect.NewRequest(&flaredbv1.ScanRegionsRequest{StartKey: s, EndKey: e, Limit: limit}))
			if err != nil {
				return err
			}
			return a.printRegions(resp.Msg.GetRegions())
		},
	}
	cmd.Flags().StringVar(&start, "start", "", "first key of interest")
	cmd.Flags().StringVar(&end, "end", "", "end of the key range of interest (exclusive)")
	cmd.Flags().Uint32Var(&limit, "limit", 0, "at most this many regions (0: PD's maximum)")
	return cmd
}

func (a *app) regionShowCmd() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "show (ID | --key KEY)",
		Short: "Show one region by id, or the region holding a key",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			pd := a.pdClient()
			var info *flaredbv1.RegionInfo
			switch {
			case len(args) == 1 && key == "":
				id, err := strconv.ParseUint(args[0], 10, 64)
				if err != nil {
					return fmt.Errorf("region id %q: %w", args[0], err)
				}
				resp, err := pd.GetRegionByID(ctx, connect.NewRequest(&flaredbv1.GetRegionByIDRequest{RegionId: id}))
				if err != nil {
					return err
				}
				info = &flaredbv1.RegionInfo{Region: resp.Msg.GetRegion(), Leader: resp.Msg.GetLeader(), DownPeers: resp.Msg.GetDownPeers()}
			case len(args) == 0 && key != "":
				k, err := a.arg(key)
				if err != nil {
					return err
				}
				resp, err := pd.GetRegion(ctx, connect.NewRequest(&flaredbv1.GetRegionRequest{Key: k}))
				if err != nil {
					return err
				}
				info = &flaredbv1.RegionInfo{Region: resp.Msg.GetRegion(), Leader: resp.Msg.GetLeader(), DownPeers: resp.Msg.GetDownPeers()}
			default:
				return fmt.Errorf("give a region id or --key, not both")
			}
			return a.printRegions([]*flaredbv1.RegionInfo{info})
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "show the region holding this key")
	return cmd
}

func (a *app) regionSplitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "split KEY",
		Short: "Split the region holding KEY at KEY (asks the region's leader)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := a.arg(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			pd := a.pdClient()
			reg, err := pd.GetRegion(ctx, connect.NewRequest(&flaredbv1.GetRegionRequest{Key: key}))
			if err != nil {
				return err
			}
			leader := reg.Msg.GetLeader()
			if leader == nil {
				return fmt.Errorf("region %d has no known leader yet; retry shortly", reg.Msg.GetRegion().GetId())
			}
			st, err := pd.GetStore(ctx, connect.NewRequest(&flaredbv1.GetStoreRequest{StoreId: leader.GetStoreId()}))
			if err != nil {
				return err
			}
			resp, err := a.adminClient(st.Msg.GetStore().GetAddress()).SplitRegion(ctx, connect.NewRequest(&flaredbv1.SplitRegionRequest{
				RegionId: reg.Msg.GetRegion().GetId(), SplitKey: key,
			}))
			if err != nil {
				return err
			}
			return a.printRegions([]*flaredbv1.RegionInfo{{Region: resp.Msg.GetLeft()}, {Region: resp.Msg.GetRight()}})
		},
	}
}

func (a *app) printRegions(regions []*flaredbv1.RegionInfo) error {
	if a.output == "json" {
		return writeProtoJSON(a.stdout, regions)
	}
	rows := make([][]string, len(regions))
	for i, info := range regions {
		r := info.GetRegion()
		var peers []string
		for _, p := range r.GetPeers() {
			s := fmt.Sprintf("%d@%d", p.GetId(), p.GetStoreId())
			if p.GetRole() == flaredbv1.PeerRole_PEER_ROLE_LEARNER {
				s += "(learner)"
			}
			peers = append(peers, s)
		}
		leader := "-"
		if l := info.GetLeader(); l != nil {
			leader = fmt.Sprintf("%d@%d", l.GetId(), l.GetStoreId())
		}
		rows[i] = []string{
			strconv.FormatUint(r.GetId(), 10), a.bound(r.GetStartKey(), "-inf"), a.bound(r.GetEndKey(), "+inf"),
			fmt.Sprintf("%d/%d", r.GetEpoch().GetConfVer(), r.GetEpoch().GetVersion()),
			strings.Join(peers, ","), leader, downPeers(info), strconv.FormatUint(info.GetApproximateKeys(), 10), strconv.FormatUint(info.GetApproximateSize(), 10),
		}
	}
	return writeTable(a.stdout, []string{"ID", "START", "END", "CONF_VER/VERSION", "PEERS(ID@STORE)", "LEADER", "DOWN(ID@STORE:FOR)", "KEYS", "SIZE"}, rows)
}

// downPeers lists the peers the region's leader reports unreachable, with
// for how long ("-" when none).
func downPeers(info *flaredbv1.RegionInfo) string {
	var out []string
	for _, d := range info.GetDownPeers() {
		out = append(out, fmt.Sprintf("%d@%d:%s", d.GetPeer().GetId(), d.GetPeer().GetStoreId(),
			(time.Duration(d.GetDownMs())*time.Millisecond).Round(time.Second)))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func (a *app) bound(k []byte, empty string) string {
	if len(k) == 0 {
		return empty
	}
	return strconv.Quote(a.show(k))
}

func (a *app) storeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "store", Short: "Inspect stores"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the stores PD knows, with their state and load",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			resp, err := a.pdClient().GetAllStores(ctx, connect.NewRequest(&flaredbv1.GetAllStoresRequest{}))
			if err != nil {
				return err
			}
			return a.printStores(resp.Msg.GetStatuses())
		},
	}, &cobra.Command{
		Use:   "set-state ID up|offline|tombstone",
		Short: "Take a store out of service (offline: its replicas move away; tombstone: it is gone for good) or back in",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("store id %q: %w", args[0], err)
			}
			state, ok := flaredbv1.StoreState_value["STORE_STATE_"+strings.ToUpper(args[1])]
			if !ok || state == 0 {
				return fmt.Errorf("state must be up, offline or tombstone, not %q", args[1])
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			resp, err := a.pdClient().SetStoreState(ctx, connect.NewRequest(&flaredbv1.SetStoreStateRequest{StoreId: id, State: flaredbv1.StoreState(state)}))
			if err != nil {
				return err
			}
			return a.printStores([]*flaredbv1.StoreStatus{{Store: resp.Msg.GetStore()}})
		},
	})
	return cmd
}

func (a *app) printStores(stores []*flaredbv1.StoreStatus) error {
	if a.output == "json" {
		return writeProtoJSON(a.stdout, stores)
	}
	rows := make([][]string, len(stores))
	for i, s := range stores {
		state := strings.TrimPrefix(s.GetStore().GetState().String(), "STORE_STATE_")
		if s.GetDown() {
			state += " (down)"
		}
		last := "-"
		if ms := s.GetLastHeartbeatUnixMs(); ms != 0 {
			last = time.UnixMilli(ms).UTC().Format(time.RFC3339)
		}
		rows[i] = []string{
			strconv.FormatUint(s.GetStore().GetId(), 10), s.GetStore().GetAddress(), state,
			strconv.FormatUint(uint64(s.GetRegionCount()), 10), strconv.FormatUint(uint64(s.GetLeaderCount()), 10),
			strconv.FormatUint(s.GetStats().GetCapacity(), 10), strconv.FormatUint(s.GetStats().GetAvailable(), 10), last,
		}
	}
	return writeTable(a.stdout, []string{"ID", "ADDRESS", "STATE", "REGIONS", "LEADERS", "CAPACITY", "AVAILABLE", "LAST_HEARTBEAT"}, rows)
}

func (a *app) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Cluster-wide information"}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Cluster id, replication target, stores and regions, and under-replicated regions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			pd := a.pdClient()
			info, err := pd.GetClusterInfo(ctx, connect.NewRequest(&flaredbv1.GetClusterInfoRequest{}))
			if err != nil {
				return err
			}
			stores, err := pd.GetAllStores(ctx, connect.NewRequest(&flaredbv1.GetAllStoresRequest{}))
			if err != nil {
				return err
			}
			regions, err := pd.ScanRegions(ctx, connect.NewRequest(&flaredbv1.ScanRegionsRequest{}))
			if err != nil {
				return err
			}
			return a.printCluster(info.Msg, stores.Msg.GetStatuses(), regions.Msg.GetRegions())
		},
	})
	return cmd
}

type clusterStatus struct {
	ClusterID       string `json:"cluster_id"`
	Bootstrapped    bool   `json:"bootstrapped"`
	MaxReplicas     uint32 `json:"max_replicas"`
	Stores          int    `json:"stores"`
	StoresUp        int    `json:"stores_up"`
	StoresDown      int    `json:"stores_down"`
	Regions         uint32 `json:"regions"`
	UnderReplicated int    `json:"under_replicated_regions"`
	NoLeader        int    `json:"regions_without_leader"`
}

func (a *app) printCluster(info *flaredbv1.GetClusterInfoResponse, stores []*flaredbv1.StoreStatus, regions []*flaredbv1.RegionInfo) error {
	st := clusterStatus{
		ClusterID:    strconv.FormatUint(info.GetClusterId(), 10),
		Bootstrapped: info.GetBootstrapped(),
		MaxReplicas:  info.GetMaxReplicas(),
		Stores:       len(stores),
		Regions:      info.GetRegionCount(),
	}
	for _, s := range stores {
		if s.GetDown() {
			st.StoresDown++
		} else if s.GetStore().GetState() == flaredbv1.StoreState_STORE_STATE_UP {
			st.StoresUp++
		}
	}
	for _, r := range regions {
		if uint32(len(r.GetRegion().GetPeers())) < info.GetMaxReplicas() {
			st.UnderReplicated++
		}
		if r.GetLeader() == nil {
			st.NoLeader++
		}
	}
	if a.output == "json" {
		return writeJSON(a.stdout, st)
	}
	rows := [][]string{
		{"cluster id", st.ClusterID},
		{"bootstrapped", strconv.FormatBool(st.Bootstrapped)},
		{"max replicas", strconv.FormatUint(uint64(st.MaxReplicas), 10)},
		{"stores (up/down)", fmt.Sprintf("%d (%d/%d)", st.Stores, st.StoresUp, st.StoresDown)},
		{"regions", strconv.FormatUint(uint64(st.Regions), 10)},
		{"under-replicated regions", strconv.Itoa(st.UnderReplicated)},
		{"regions without leader", strconv.Itoa(st.NoLeader)},
	}
	return writeTable(a.stdout, []string{"FIELD", "VALUE"}, rows)
}
