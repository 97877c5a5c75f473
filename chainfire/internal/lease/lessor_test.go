package lease_test

import (
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/photoncloud/core/chainfire/internal/lease"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
)

// clock is a manual time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t     *testing.T
	store *mvcc.Store
	l     *lease.Lessor
	clk   *clock
	index uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s, err := mvcc.Open(filepath.Join(t.TempDir(), "kv.db"), mvcc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := &clock{now: time.Unix(1_000_000, 0)}
	return &fixture{t: t, store: s, clk: clk, l: lease.New(lease.Options{MinTTL: 2, Now: clk.Now})}
}

// update runs fn in one applied batch, as the state machine does.
func (f *fixture) update(fn func(b *mvcc.Batch) error) {
	f.t.Helper()
	f.index++
	if err := f.store.Update(f.index, 1, fn); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) grant(id, ttl int64) int64 {
	f.t.Helper()
	var granted int64
	f.update(func(b *mvcc.Batch) error {
		var err error
		granted, err = f.l.Grant(b.Tx(), id, ttl)
		return err
	})
	return granted
}

func (f *fixture) put(key string, leaseID int64) {
	f.t.Helper()
	f.update(func(b *mvcc.Batch) error {
		res, err := b.Txn(func(tx *mvcc.WriteTxn) error {
			_, err := tx.Put([]byte(key), []byte("v"), leaseID)
			return err
		})
		f.l.Track(res.Events)
		return err
	})
}

func (f *fixture) del(key string) {
	f.t.Helper()
	f.update(func(b *mvcc.Batch) error {
		res, err := b.Txn(func(tx *mvcc.WriteTxn) error {
			_, _, err := tx.DeleteRange([]byte(key), nil)
			return err
		})
		f.l.Track(res.Events)
		return err
	})
}

func TestGrantLimitsAndDuplicates(t *testing.T) {
	f := newFixture(t)
	if got := f.grant(1, 1); got != 2 {
		t.Fatalf("TTL below the minimum granted as %d, want the minimum 2", got)
	}
	if got := f.grant(2, 60); got != 60 {
		t.Fatalf("granted %d, want 60", got)
	}
	f.update(func(b *mvcc.Batch) error {
		if _, err := f.l.Grant(b.Tx(), 2, 10); !errors.Is(err, lease.ErrExists) {
			t.Errorf("second grant of id 2: %v, want ErrExists", err)
		}
		if _, err := f.l.Grant(b.Tx(), 3, lease.MaxTTL+1); !errors.Is(err, lease.ErrTTLTooLarge) {
			t.Errorf("grant above MaxTTL: %v, want ErrTTLTooLarge", err)
		}
		return nil
	})
	if ids := f.l.IDs(); !slices.Equal(ids, []int64{1, 2}) {
		t.Fatalf("IDs = %v, want [1 2]", ids)
	}
}

func TestTrackFollowsKeysBetweenLeases(t *testing.T) {
	f := newFixture(t)
	f.grant(1, 10)
	f.grant(2, 10)
	f.put("a", 1)
	f.put("b", 1)
	f.put("a", 2) // moves a to lease 2
	f.put("b", 0) // detaches b
	f.put("c", 2)
	f.del("c")
	one, _ := f.l.Get(1)
	two, _ := f.l.Get(2)
	if len(one.Keys) != 0 || !slices.Equal(two.Keys, []string{"a"}) {
		t.Fatalf("lease 1 keys %v, lease 2 keys %v; want [] and [a]", one.Keys, two.Keys)
	}
}

func TestLoadRebuildsFromStore(t *testing.T) {
	f := newFixture(t)
	f.grant(7, 30)
	f.grant(8, 40)
	f.put("x", 7)
	f.put("y", 7)
	f.put("z", 8)
	f.update(func(b *mvcc.Batch) error {
		return f.l.Checkpoint(b.Tx(), []*chainfirev1.LeaseCheckpoint{{Id: 8, RemainingTtl: 12}})
	})
	f.update(func(b *mvcc.Batch) error { return f.l.Remove(b.Tx(), 7) })

	fresh := lease.New(lease.Options{MinTTL: 2, Now: f.clk.Now})
	if err := fresh.Load(f.store); err != nil {
		t.Fatal(err)
	}
	if fresh.Exists(7) {
		t.Fatal("removed lease 7 came back after Load")
	}
	got, ok := fresh.Get(8)
	if !ok || got.TTL != 40 || got.Remaining != 12 || !slices.Equal(got.Keys, []string{"z"}) {
		t.Fatalf("lease 8 after Load = %+v (found %v), want TTL 40, remaining 12, keys [z]", got, ok)
	}
}

func TestFollowerNeverExpires(t *testing.T) {
	f := newFixture(t)
	f.grant(1, 2)
	f.clk.advance(time.Hour)
	if ids := f.l.Expired(100); len(ids) != 0 {
		t.Fatalf("non-primary lessor expired %v", ids)
	}
	if _, _, err := f.l.Renew(1); !errors.Is(err, lease.ErrNotPrimary) {
		t.Fatalf("Renew on a follower: %v, want ErrNotPrimary", err)
	}
}

func TestPromoteExtendsAndRenewDelays(t *testing.T) {
	f := newFixture(t)
	f.grant(1, 5)
	f.grant(2, 5)
	f.l.Promote(time.Second) // deadlines: now + 6s
	f.clk.advance(5500 * time.Millisecond)
	if ids := f.l.Expired(100); len(ids) != 0 {
		t.Fatalf("expired %v within TTL + election extension", ids)
	}
	if ttl, _, err := f.l.Renew(1); err != nil || ttl != 5 {
		t.Fatalf("Renew(1) = %d, %v", ttl, err)
	}
	f.clk.advance(time.Second)
	if ids := f.l.Expired(100); !slices.Equal(ids, []int64{2}) {
		t.Fatalf("expired %v, want [2] (1 was renewed)", ids)
	}
	if ids := f.l.Expired(100); len(ids) != 0 {
		t.Fatalf("lease 2 offered again while its revocation is in flight: %v", ids)
	}
	if _, _, err := f.l.Renew(2); !errors.Is(err, lease.ErrNotFound) {
		t.Fatalf("renewing an expired lease: %v, want ErrNotFound", err)
	}
	f.clk.advance(5 * time.Second)
	if ids := f.l.Expired(100); !slices.Equal(ids, []int64{1, 2}) && !slices.Equal(ids, []int64{2, 1}) {
		t.Fatalf("expired %v, want both (2 re-offered after the retry delay)", ids)
	}
}

func TestExpiredIsRateLimited(t *testing.T) {
	f := newFixture(t)
	for id := int64(1); id <= 50; id++ {
		f.grant(id, 2)
	}
	f.l.Promote(0)
	f.clk.advance(3 * time.Second)
	seen := map[int64]bool{}
	for range 5 {
		ids := f.l.Expired(10)
		if len(ids) != 10 {
			t.Fatalf("Expired(10) returned %d ids", len(ids))
		}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("lease %d offered twice", id)
			}
			seen[id] = true
		}
	}
}

func TestCheckpointResumesAfterPromotion(t *testing.T) {
	f := newFixture(t)
	f.grant(1, 100)
	f.grant(2, 3) // short: never checkpointed
	f.l.Promote(0)
	f.clk.advance(40 * time.Second)
	cps := f.l.Due(5)
	if len(cps) != 1 || cps[0].GetId() != 1 || cps[0].GetRemainingTtl() != 60 {
		t.Fatalf("Due = %v, want lease 1 with 60s left", cps)
	}
	f.update(func(b *mvcc.Batch) error { return f.l.Checkpoint(b.Tx(), cps) })
	// A new leader (here: demote, promote) continues from the checkpoint.
	f.l.Demote()
	f.l.Promote(time.Second)
	_, left, err := f.l.TimeToLive(1)
	if err != nil || left != 61 {
		t.Fatalf("TimeToLive after re-promotion = %d, %v; want 61 (60 checkpointed + 1 extension)", left, err)
	}
	// A renewal restarts the full TTL and asks for the checkpoint to clear.
	if _, needClear, _ := f.l.Renew(1); !needClear {
		t.Fatal("renewing a checkpointed lease did not ask to clear the checkpoint")
	}
}

func TestLeaseBucketIsInTheStoreFile(t *testing.T) {
	f := newFixture(t)
	f.grant(42, 10)
	if err := f.store.Sync(); err != nil { // the file has it once committed
		t.Fatal(err)
	}
	found := false
	err := f.store.View(func(tx *bbolt.Tx) error {
		found = tx.Bucket([]byte("lease")) != nil && tx.Bucket([]byte("lease")).Stats().KeyN == 1
		return nil
	})
	if err != nil || !found {
		t.Fatalf("lease record not in the store's bbolt file (err %v)", err)
	}
}
