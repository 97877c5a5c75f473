package pd

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/proto/etcdserverpb"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// metaStore reads and writes PD's metadata in Chainfire under a prefix.
type metaStore struct {
	kv     Backend
	prefix string
}

// loadPageSize bounds one Range while loading the routing table, so a large
// table never needs one huge response.
const loadPageSize = 512

func (m *metaStore) clusterKey() []byte         { return []byte(m.prefix + "/cluster") }
func (m *metaStore) allocKey() []byte           { return []byte(m.prefix + "/alloc_id") }
func (m *metaStore) storePrefix() string        { return m.prefix + "/stores/" }
func (m *metaStore) regionPrefix() string       { return m.prefix + "/regions/" }
func (m *metaStore) storeKey(id uint64) []byte  { return []byte(m.storePrefix() + idKey(id)) }
func (m *metaStore) regionKey(id uint64) []byte { return []byte(m.regionPrefix() + idKey(id)) }

// idKey renders an id with fixed width so keys sort by id.
func idKey(id uint64) string { return fmt.Sprintf("%020d", id) }

// loadClusterID returns the cluster id, or 0 before bootstrap.
func (m *metaStore) loadClusterID(ctx context.Context) (uint64, error) {
	resp, err := m.kv.Range(ctx, &etcdserverpb.RangeRequest{Key: m.clusterKey()})
	if err != nil {
		return 0, fmt.Errorf("load cluster id: %w", err)
	}
	if len(resp.GetKvs()) == 0 {
		return 0, nil
	}
	id, err := strconv.ParseUint(string(resp.GetKvs()[0].GetValue()), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("load cluster id: corrupt value %q: %w", resp.GetKvs()[0].GetValue(), err)
	}
	return id, nil
}

// bootstrap writes the cluster id, the first store and the first region in
// one transaction guarded by the cluster key not existing yet. It returns
// the cluster id now stored and whether this call created it.
func (m *metaStore) bootstrap(ctx context.Context, clusterID uint64, store *flaredbv1.Store, region *flaredbv1.RegionInfo) (uint64, bool, error) {
	storeVal, err := proto.Marshal(store)
	if err != nil {
		return 0, false, err
	}
	regionVal, err := proto.Marshal(region)
	if err != nil {
		return 0, false, err
	}
	resp, err := m.kv.Txn(ctx, &etcdserverpb.TxnRequest{
		Compare: []*etcdserverpb.Compare{{
			Key:         m.clusterKey(),
			Target:      etcdserverpb.Compare_CREATE,
			Result:      etcdserverpb.Compare_EQUAL,
			TargetUnion: &etcdserverpb.Compare_CreateRevision{CreateRevision: 0},
		}},
		Success: []*etcdserverpb.RequestOp{
			putOp(m.clusterKey(), []byte(strconv.FormatUint(clusterID, 10))),
			putOp(m.storeKey(store.GetId()), storeVal),
			putOp(m.regionKey(region.GetRegion().GetId()), regionVal),
		},
		Failure: []*etcdserverpb.RequestOp{rangeOp(m.clusterKey())},
	})
	if err != nil {
		return 0, false, fmt.Errorf("bootstrap: %w", err)
	}
	if resp.GetSucceeded() {
		return clusterID, true, nil
	}
	kvs := resp.GetResponses()[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return 0, false, errors.New("bootstrap: cluster key vanished")
	}
	existing, err := strconv.ParseUint(string(kvs[0].GetValue()), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("bootstrap: corrupt cluster id %q: %w", kvs[0].GetValue(), err)
	}
	return existing, false, nil
}

func (m *metaStore) putStore(ctx context.Context, s *flaredbv1.Store) error {
	val, err := proto.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := m.kv.Txn(ctx, &etcdserverpb.TxnRequest{Success: []*etcdserverpb.RequestOp{putOp(m.storeKey(s.GetId()), val)}}); err != nil {
		return fmt.Errorf("save store %d: %w", s.GetId(), err)
	}
	return nil
}

// saveRegions writes put and removes the regions in del, atomically.
func (m *metaStore) saveRegions(ctx context.Context, put []*flaredbv1.RegionInfo, del []uint64) error {
	ops := make([]*etcdserverpb.RequestOp, 0, len(put)+len(del))
	for _, r := range put {
		// Down peers are the leader's live view, not metadata.
		stored := proto.CloneOf(r)
		stored.DownPeers = nil
		val, err := proto.Marshal(stored)
		if err != nil {
			return err
		}
		ops = append(ops, putOp(m.regionKey(r.GetRegion().GetId()), val))
	}
	for _, id := range del {
		ops = append(ops, &etcdserverpb.RequestOp{Request: &etcdserverpb.RequestOp_RequestDeleteRange{
			RequestDeleteRange: &etcdserverpb.DeleteRangeRequest{Key: m.regionKey(id)},
		}})
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := m.kv.Txn(ctx, &etcdserverpb.TxnRequest{Success: ops}); err != nil {
		return fmt.Errorf("save regions: %w", err)
	}
	return nil
}

func (m *metaStore) loadStores(ctx context.Context) ([]*flaredbv1.Store, error) {
	var out []*flaredbv1.Store
	err := m.scanPrefix(ctx, m.storePrefix(), func(key, val []byte) error {
		s := new(flaredbv1.Store)
		if err := proto.Unmarshal(val, s); err != nil {
			return fmt.Errorf("store %s: %w", key, err)
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

func (m *metaStore) loadRegions(ctx context.Context) ([]*flaredbv1.RegionInfo, error) {
	var out []*flaredbv1.RegionInfo
	err := m.scanPrefix(ctx, m.regionPrefix(), func(key, val []byte) error {
		r := new(flaredbv1.RegionInfo)
		if err := proto.Unmarshal(val, r); err != nil {
			return fmt.Errorf("region %s: %w", key, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// scanPrefix visits every key under prefix in pages, all read at the
// revision of the first page so the result is one consistent view.
func (m *metaStore) scanPrefix(ctx context.Context, prefix string, visit func(key, val []byte) error) error {
	key := []byte(prefix)
	end := prefixEnd(key)
	var rev int64
	for {
		resp, err := m.kv.Range(ctx, &etcdserverpb.RangeRequest{Key: key, RangeEnd: end, Limit: loadPageSize, Revision: rev})
		if err != nil {
			return fmt.Errorf("load %s: %w", prefix, err)
		}
		if rev == 0 {
			rev = resp.GetHeader().GetRevision()
		}
		for _, kv := range resp.GetKvs() {
			if err := visit(kv.GetKey(), kv.GetValue()); err != nil {
				return fmt.Errorf("load %s: %w", prefix, err)
			}
		}
		if !resp.GetMore() || len(resp.GetKvs()) == 0 {
			return nil
		}
		last := resp.GetKvs()[len(resp.GetKvs())-1].GetKey()
		key = append(append([]byte(nil), last...), 0)
	}
}

// ping checks that Chainfire answers.
func (m *metaStore) ping(ctx context.Context) error {
	_, err := m.kv.Range(ctx, &etcdserverpb.RangeRequest{Key: m.clusterKey(), CountOnly: true, Serializable: true})
	return err
}

func putOp(key, val []byte) *etcdserverpb.RequestOp {
	return &etcdserverpb.RequestOp{Request: &etcdserverpb.RequestOp_RequestPut{
		RequestPut: &etcdserverpb.PutRequest{Key: key, Value: val},
	}}
}

func rangeOp(key []byte) *etcdserverpb.RequestOp {
	return &etcdserverpb.RequestOp{Request: &etcdserverpb.RequestOp_RequestRange{
		RequestRange: &etcdserverpb.RangeRequest{Key: key},
	}}
}

// prefixEnd is the etcd range end that covers every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}
