package apply

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
)

var (
	membersBucket = []byte("members")
	// clusterBucket holds cluster-wide records: the cluster id (recorded
	// when the first member is added, so joiners adopt it) and alarms.
	clusterBucket = []byte("cluster")
	clusterIDKey  = []byte("id")
)

// Members is the replicated table of what members announced about
// themselves (name, client and peer URLs), kept in the store's bbolt file so
// it is written atomically with the entry that changed it and travels in
// snapshots.
type Members struct {
	mu        sync.RWMutex
	byID      map[uint64]*chainfirev1.MemberAttributes
	clusterID uint64
	alarms    map[alarmKey]struct{}
}

func newMembers() *Members {
	return &Members{byID: make(map[uint64]*chainfirev1.MemberAttributes), alarms: map[alarmKey]struct{}{}}
}

// ClusterID is the cluster id recorded in the replicated state, 0 if none
// was (a cluster that never changed membership).
func (m *Members) ClusterID() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.clusterID
}

// Get returns the attributes member id announced, if any.
func (m *Members) Get(id uint64) (*chainfirev1.MemberAttributes, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a, ok := m.byID[id]
	return a, ok
}

// List returns every announced member, ordered by id.
func (m *Members) List() []*chainfirev1.MemberAttributes {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*chainfirev1.MemberAttributes, 0, len(m.byID))
	for _, a := range m.byID {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y *chainfirev1.MemberAttributes) int {
		switch {
		case x.GetId() < y.GetId():
			return -1
		case x.GetId() > y.GetId():
			return 1
		}
		return 0
	})
	return out
}

func (m *Members) load(store *mvcc.Store) error {
	loaded := make(map[uint64]*chainfirev1.MemberAttributes)
	err := store.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(membersBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var a chainfirev1.MemberAttributes
			if err := proto.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("member %x: %w", k, err)
			}
			loaded[a.GetId()] = &a
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("apply: load members: %w", err)
	}
	var clusterID uint64
	alarms := map[alarmKey]struct{}{}
	err = store.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(clusterBucket)
		if b == nil {
			return nil
		}
		if v := b.Get(clusterIDKey); len(v) == 8 {
			clusterID = binary.BigEndian.Uint64(v)
		}
		return loadAlarms(b, alarms)
	})
	if err != nil {
		return fmt.Errorf("apply: load cluster records: %w", err)
	}
	m.mu.Lock()
	m.byID, m.clusterID, m.alarms = loaded, clusterID, alarms
	m.mu.Unlock()
	return nil
}

// record stores an added (or updated) member's peer URLs, keeping what
// it published itself, and the cluster id if none is recorded yet.
func (m *Members) record(b *mvcc.Batch, r *chainfirev1.MemberRecord) error {
	m.mu.RLock()
	cur, ok := m.byID[r.GetId()]
	known := m.clusterID
	m.mu.RUnlock()
	a := &chainfirev1.MemberAttributes{Id: r.GetId(), PeerUrls: r.GetPeerUrls()}
	if ok {
		a.Name, a.ClientUrls = cur.GetName(), cur.GetClientUrls()
	}
	if known == 0 && r.GetClusterId() != 0 {
		bucket, err := b.Tx().CreateBucketIfNotExists(clusterBucket)
		if err != nil {
			return fmt.Errorf("apply: cluster bucket: %w", err)
		}
		if err := bucket.Put(clusterIDKey, binary.BigEndian.AppendUint64(nil, r.GetClusterId())); err != nil {
			return fmt.Errorf("apply: store cluster id: %w", err)
		}
		id := r.GetClusterId()
		b.OnCommit(func(int64, []mvcc.Event) {
			m.mu.Lock()
			m.clusterID = id
			m.mu.Unlock()
		})
	}
	return m.publish(b, a)
}

// forget drops a removed member's attributes.
func (m *Members) forget(b *mvcc.Batch, id uint64) error {
	if bucket := b.Tx().Bucket(membersBucket); bucket != nil {
		if err := bucket.Delete(binary.BigEndian.AppendUint64(nil, id)); err != nil {
			return fmt.Errorf("apply: forget member: %w", err)
		}
	}
	b.OnCommit(func(int64, []mvcc.Event) {
		m.mu.Lock()
		delete(m.byID, id)
		m.mu.Unlock()
	})
	return nil
}

// publish stores a member's attributes in the batch and, once the batch
// commits, in memory.
func (m *Members) publish(b *mvcc.Batch, a *chainfirev1.MemberAttributes) error {
	bucket, err := b.Tx().CreateBucketIfNotExists(membersBucket)
	if err != nil {
		return fmt.Errorf("apply: members bucket: %w", err)
	}
	data, err := proto.Marshal(a)
	if err != nil {
		return fmt.Errorf("apply: encode member: %w", err)
	}
	key := binary.BigEndian.AppendUint64(nil, a.GetId())
	if err := bucket.Put(key, data); err != nil {
		return fmt.Errorf("apply: store member: %w", err)
	}
	copied := proto.Clone(a).(*chainfirev1.MemberAttributes)
	b.OnCommit(func(int64, []mvcc.Event) {
		m.mu.Lock()
		m.byID[copied.GetId()] = copied
		m.mu.Unlock()
	})
	return nil
}

// ForgetMembership deletes the membership records (members, cluster id,
// alarms) from a store file being turned into the first member of a new
// cluster: the new cluster announces its own.
func ForgetMembership(tx *bbolt.Tx) error {
	for _, name := range [][]byte{membersBucket, clusterBucket} {
		if tx.Bucket(name) == nil {
			continue
		}
		if err := tx.DeleteBucket(name); err != nil {
			return fmt.Errorf("apply: forget %s: %w", name, err)
		}
	}
	return nil
}
