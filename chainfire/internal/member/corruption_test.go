package member_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/photoncloud/core/chainfire/internal/member"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// TestCorruptionCheckRaisesAlarm flips one byte of a value in a stopped
// follower's store file: after it restarts, the leader's periodic HashKV
// comparison must raise CORRUPT for that follower, and writes then fail
// with etcd's corrupt-cluster error.
func TestCorruptionCheckRaisesAlarm(t *testing.T) {
	var mu sync.Mutex
	regs := map[string]*prometheus.Registry{}
	c := newCluster(t, 3, func(cfg *member.Config) {
		cfg.CorruptCheckInterval = 200 * time.Millisecond
		reg := prometheus.NewRegistry()
		cfg.Registerer = reg
		mu.Lock()
		regs[cfg.Name] = reg
		mu.Unlock()
	})
	leader := c.waitLeader()
	original := strings.Repeat("a", 64)
	leader.mustPut("corrupt/x", original)
	leader.mustPut("corrupt/y", "y")
	c.waitConverged()
	// Healthy members never trip the check.
	time.Sleep(time.Second)
	if leader.m.AlarmActive(pb.AlarmType_CORRUPT) {
		t.Fatalf("CORRUPT raised on a healthy cluster: %v", leader.m.Alarms())
	}

	f := c.others(leader)[0]
	id := f.m.ID()
	f.shutdown()
	db, err := bbolt.Open(filepath.Join(f.dir, "member", "kv.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	flipped := false
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("key"))
		return b.ForEach(func(k, v []byte) error {
			if !flipped && bytes.Contains(v, []byte(original)) {
				flipped = true
				return b.Put(bytes.Clone(k), bytes.Replace(v, []byte(original), []byte(strings.Repeat("a", 63)+"b"), 1))
			}
			return nil
		})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil || !flipped {
		t.Fatalf("corrupting %s: flipped=%v err=%v", f.name, flipped, err)
	}
	f.start()

	leader = c.waitLeader()
	waitFor(t, "CORRUPT alarm for the corrupted member", func() bool {
		for _, a := range leader.m.Alarms() {
			if a.GetAlarm() == pb.AlarmType_CORRUPT && a.GetMemberID() == id {
				return true
			}
		}
		return false
	})
	// The leader that found it counted it (leadership may have moved). It
	// counts once the comparison returns, which is after the alarm it
	// raised was applied, so the count may trail the alarm a little.
	counted := func() bool {
		var total float64
		mu.Lock()
		defer mu.Unlock()
		for _, reg := range regs {
			total += mismatches(t, reg)
		}
		return total >= 1
	}
	waitFor(t, `a member to count chainfire_server_corruption_checks_total{result="mismatch"}`, counted)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := leader.putResolved(ctx, "corrupt/z", "z"); err == nil || !strings.Contains(err.Error(), "etcdserver: corrupt cluster") {
		t.Fatalf("write under CORRUPT: %v", err)
	}
}

func mismatches(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "chainfire_server_corruption_checks_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "mismatch" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
