package lease

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
)

// bucket holds one LeaseRecord per lease, keyed by the big-endian id.
var bucket = []byte("lease")

// Grant creates lease id with ttl seconds (raised to MinTTL) inside the
// apply transaction tx and returns the TTL granted. On the primary the
// lease starts its countdown at once.
func (l *Lessor) Grant(tx *bbolt.Tx, id, ttl int64) (int64, error) {
	if ttl > MaxTTL {
		return 0, ErrTTLTooLarge
	}
	ttl = max(ttl, l.minTTL)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.leases[id]; ok {
		return 0, ErrExists
	}
	le := &lease{id: id, ttl: ttl, keys: map[string]struct{}{}}
	if err := putRecord(tx, le); err != nil {
		return 0, err
	}
	if l.primary {
		le.expiry = l.now().Add(time.Duration(ttl) * time.Second)
	}
	l.leases[id] = le
	return ttl, nil
}

// Remove deletes lease id (its keys must already be deleted by the caller,
// in the same transaction).
func (l *Lessor) Remove(tx *bbolt.Tx, id int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.leases[id]; !ok {
		return ErrNotFound
	}
	if b := tx.Bucket(bucket); b != nil {
		if err := b.Delete(idKey(id)); err != nil {
			return fmt.Errorf("lease: delete %x: %w", id, err)
		}
	}
	delete(l.leases, id)
	return nil
}

// Checkpoint records remaining seconds for each listed lease that still
// exists (0 clears a checkpoint after a renewal).
func (l *Lessor) Checkpoint(tx *bbolt.Tx, cps []*chainfirev1.LeaseCheckpoint) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, cp := range cps {
		le, ok := l.leases[cp.GetId()]
		if !ok || le.remaining == cp.GetRemainingTtl() {
			continue
		}
		le.remaining = max(cp.GetRemainingTtl(), 0)
		if err := putRecord(tx, le); err != nil {
			return err
		}
	}
	return nil
}

// Track keeps the attached-key sets in step with a committed transaction's
// events: a key leaves the lease of the version it replaced and joins the
// lease of the version it became.
func (l *Lessor) Track(events []mvcc.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range events {
		ev := &events[i]
		if ev.PrevKV != nil && ev.PrevKV.Lease != 0 {
			if le, ok := l.leases[ev.PrevKV.Lease]; ok {
				delete(le.keys, string(ev.KV.Key))
			}
		}
		if ev.Type == mvcc.EventPut && ev.KV.Lease != 0 {
			if le, ok := l.leases[ev.KV.Lease]; ok {
				le.keys[string(ev.KV.Key)] = struct{}{}
			}
		}
	}
}

// Load replaces the replicated state with what store holds: the lease
// records and, from the current keys, what is attached to each. Expiry
// state is reset; a primary lessor restarts every countdown.
func (l *Lessor) Load(store *mvcc.Store) error {
	// Lease records are read from the file, which holds applied batches
	// only once the store has committed them.
	if err := store.Sync(); err != nil {
		return fmt.Errorf("lease: sync store: %w", err)
	}
	leases := map[int64]*lease{}
	err := store.Read(func(r *mvcc.ReadTxn) error {
		if err := readRecords(r.Tx(), leases); err != nil {
			return err
		}
		res, err := r.Range([]byte{0}, []byte{0}, mvcc.RangeOptions{KeysOnly: true})
		if err != nil {
			return fmt.Errorf("lease: scan keys: %w", err)
		}
		for _, kv := range res.KVs {
			if le, ok := leases[kv.Lease]; ok && kv.Lease != 0 {
				le.keys[string(kv.Key)] = struct{}{}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.leases = leases
	if l.primary {
		l.promoteLocked(0)
	}
	l.mu.Unlock()
	return nil
}

func readRecords(tx *bbolt.Tx, into map[int64]*lease) error {
	b := tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var rec chainfirev1.LeaseRecord
		if err := proto.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("lease: decode record %x: %w", k, err)
		}
		into[rec.GetId()] = &lease{id: rec.GetId(), ttl: rec.GetTtl(), remaining: rec.GetRemainingTtl(), keys: map[string]struct{}{}}
		return nil
	})
}

func putRecord(tx *bbolt.Tx, le *lease) error {
	b, err := tx.CreateBucketIfNotExists(bucket)
	if err != nil {
		return fmt.Errorf("lease: bucket: %w", err)
	}
	v, err := proto.Marshal(&chainfirev1.LeaseRecord{Id: le.id, Ttl: le.ttl, RemainingTtl: le.remaining})
	if err != nil {
		return err
	}
	if err := b.Put(idKey(le.id), v); err != nil {
		return fmt.Errorf("lease: write %x: %w", le.id, err)
	}
	return nil
}

func idKey(id int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(id))
}
