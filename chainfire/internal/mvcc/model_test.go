package mvcc

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// model is the obvious implementation: every version of every key, kept
// forever, searched linearly.
type model struct {
	hist    map[string][]modelVer
	rev     int64
	compact int64
}

type modelVer struct {
	kv      KeyValue
	deleted bool
}

func newModel() *model { return &model{hist: map[string][]modelVer{}, rev: 1, compact: -1} }

func (m *model) clone() *model {
	c := &model{hist: map[string][]modelVer{}, rev: m.rev, compact: m.compact}
	for k, v := range m.hist {
		c.hist[k] = slices.Clone(v)
	}
	return c
}

// at returns key's version visible at rev.
func (m *model) at(key string, rev int64) (KeyValue, bool) {
	var cur *modelVer
	for i, v := range m.hist[key] {
		if v.kv.ModRevision <= rev {
			cur = &m.hist[key][i]
		}
	}
	if cur == nil || cur.deleted {
		return KeyValue{}, false
	}
	return cur.kv, true
}

func inRange(k, key, end string) bool {
	switch {
	case end == "":
		return k == key
	case end == "\x00":
		return k >= key
	default:
		return k >= key && k < end
	}
}

func (m *model) rangeAt(key, end string, rev int64) []KeyValue {
	var keys []string
	for k := range m.hist {
		if inRange(k, key, end) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []KeyValue
	for _, k := range keys {
		if kv, ok := m.at(k, rev); ok {
			out = append(out, kv)
		}
	}
	return out
}

// modelTxn mirrors one WriteTxn on a model.
type modelTxn struct {
	m       *model
	changed bool
}

func (mt *modelTxn) put(key, val string, lease int64) *KeyValue {
	rev := mt.m.rev + 1
	prev, ok := mt.m.at(key, rev)
	kv := KeyValue{Key: []byte(key), Value: []byte(val), CreateRevision: rev, ModRevision: rev, Version: 1, Lease: lease}
	if val == "" {
		kv.Value = nil
	}
	if ok {
		kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
	}
	mt.m.hist[key] = append(mt.m.hist[key], modelVer{kv: kv})
	mt.changed = true
	if !ok {
		return nil
	}
	return &prev
}

func (mt *modelTxn) deleteRange(key, end string) []KeyValue {
	rev := mt.m.rev + 1
	prevs := mt.m.rangeAt(key, end, rev)
	for _, p := range prevs {
		k := string(p.Key)
		mt.m.hist[k] = append(mt.m.hist[k], modelVer{kv: KeyValue{Key: p.Key, ModRevision: rev}, deleted: true})
		mt.changed = true
	}
	return prevs
}

var modelKeys = []string{"a", "a\x00", "ab", "abc", "b", "ba", "c", "\x00", "\xff"}

func randKey(rnd *rand.Rand) string { return modelKeys[rnd.IntN(len(modelKeys))] }

func randEnd(rnd *rand.Rand) string {
	switch rnd.IntN(4) {
	case 0:
		return ""
	case 1:
		return "\x00"
	default:
		return randKey(rnd)
	}
}

func TestRandomizedAgainstModel(t *testing.T) {
	for _, mode := range commitModes {
		t.Run(mode.name, func(t *testing.T) { testRandomizedAgainstModel(t, mode.opts) })
	}
}

// testRandomizedAgainstModel also "crashes" the store now and then
// (crashCopy): the copy must hold exactly the model as of its durable
// applied index, never a part of a batch, never one applied twice.
func testRandomizedAgainstModel(t *testing.T, opts Options) {
	opts.CompactBatchLimit = 3
	for seed := uint64(1); seed <= 8; seed++ {
		rnd := rand.New(rand.NewPCG(seed, seed))
		s := openTest(t, opts)
		m := newModel()
		byIndex := map[uint64]*model{s.AppliedIndex(): m}
		for step := 0; step < 150; step++ {
			m = randomBatch(t, s, m, rnd)
			byIndex[s.AppliedIndex()] = m
			if s.Rev() != m.rev || s.CompactRev() != m.compact {
				t.Fatalf("seed %d step %d: rev %d/%d compact %d/%d", seed, step, s.Rev(), m.rev, s.CompactRev(), m.compact)
			}
			for q := 0; q < 5; q++ {
				checkRandomRange(t, s, m, rnd)
			}
			switch rnd.IntN(40) {
			case 0:
				s = reopen(t, s, opts)
			case 1:
				checkCrashCopy(t, s, opts, byIndex)
			}
		}
	}
}

func checkCrashCopy(t *testing.T, s *Store, opts Options, byIndex map[uint64]*model) {
	t.Helper()
	durable := s.DurableIndex()
	c := crashCopy(t, s, opts)
	want, ok := byIndex[c.AppliedIndex()]
	if !ok || c.AppliedIndex() != durable {
		t.Fatalf("crash copy at index %d, durable index %d", c.AppliedIndex(), durable)
	}
	if c.Rev() != want.rev || c.CompactRev() != want.compact {
		t.Fatalf("crash copy rev %d/%d compact %d/%d", c.Rev(), want.rev, c.CompactRev(), want.compact)
	}
	for rev := max(want.compact, 1); rev <= want.rev; rev++ {
		got := mustRange(t, c, "\x00", "\x00", RangeOptions{Rev: rev})
		if g, w := fmtKVs(got.KVs), fmtKVs(want.rangeAt("\x00", "\x00", rev)); g != w {
			t.Fatalf("crash copy at rev %d:\n got %s\nwant %s", rev, g, w)
		}
	}
}

// randomBatch applies one random Update to s and returns the model after
// it (the old model if the Update was made to fail).
func randomBatch(t testing.TB, s *Store, m *model, rnd *rand.Rand) *model {
	next := m.clone()
	abort := rnd.IntN(10) == 0
	if abort {
		// Only a batch alone in its write transaction can fail cleanly.
		mustSync(t, s)
	}
	err := update(s, func(b *Batch) error {
		for i := rnd.IntN(4); i >= 0; i-- {
			if rnd.IntN(8) == 0 && next.rev > next.compact+1 {
				rev := next.compact + 1 + rnd.Int64N(next.rev-next.compact)
				if err := b.Compact(rev); err != nil {
					return err
				}
				next.compact = rev
				continue
			}
			randomTxn(t, b, next, rnd)
		}
		if abort {
			return errors.New("abort")
		}
		return nil
	})
	if abort {
		return m
	}
	if err != nil {
		t.Fatal(err)
	}
	return next
}

func randomTxn(t testing.TB, b *Batch, m *model, rnd *rand.Rand) {
	mt := &modelTxn{m: m.clone()}
	fail := rnd.IntN(8) == 0
	_, err := b.Txn(func(tx *WriteTxn) error {
		for i := rnd.IntN(4); i >= 0; i-- {
			if rnd.IntN(3) == 0 {
				key, end := randKey(rnd), randEnd(rnd)
				want := mt.deleteRange(key, end)
				n, got, err := tx.DeleteRange([]byte(key), []byte(end))
				if err != nil || n != int64(len(want)) || fmtKVs(got) != fmtKVs(want) {
					t.Fatalf("DeleteRange(%q,%q) = %d %s %v, want %s", key, end, n, fmtKVs(got), err, fmtKVs(want))
				}
				continue
			}
			key, val, lease := randKey(rnd), strings.Repeat("v", rnd.IntN(3)), rnd.Int64N(3)
			want := mt.put(key, val, lease)
			got, err := tx.Put([]byte(key), []byte(val), lease)
			if err != nil || (got == nil) != (want == nil) || (got != nil && !kvEqual(*got, *want)) {
				t.Fatalf("Put(%q) prev %+v %v, want %+v", key, got, err, want)
			}
		}
		if fail {
			return errors.New("txn fails")
		}
		return nil
	})
	if fail {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	*m = *mt.m
	if mt.changed {
		m.rev++
	}
}

func checkRandomRange(t testing.TB, s *Store, m *model, rnd *rand.Rand) {
	key, end := randKey(rnd), randEnd(rnd)
	rev := rnd.Int64N(m.rev + 2)
	opts := RangeOptions{Rev: rev, Limit: rnd.Int64N(4)}
	got, err := s.Range([]byte(key), []byte(end), opts)
	switch {
	case rev > m.rev:
		if !errors.Is(err, ErrFutureRev) {
			t.Fatalf("Range at future %d: %v", rev, err)
		}
		return
	case rev > 0 && rev < m.compact:
		if !errors.Is(err, ErrCompacted) {
			t.Fatalf("Range at %d below compaction %d: %v", rev, m.compact, err)
		}
		return
	case err != nil:
		t.Fatalf("Range(%q,%q,%+v): %v", key, end, opts, err)
	}
	if rev <= 0 {
		rev = m.rev
	}
	want := m.rangeAt(key, end, rev)
	count := int64(len(want))
	if opts.Limit > 0 && int64(len(want)) > opts.Limit {
		want = want[:opts.Limit]
	}
	if fmtKVs(got.KVs) != fmtKVs(want) || got.Count != count || got.More != (count > int64(len(want))) || got.Rev != m.rev {
		t.Fatalf("Range(%q,%q,%+v) = %s count %d more %v rev %d\nwant %s count %d",
			key, end, opts, fmtKVs(got.KVs), got.Count, got.More, got.Rev, fmtKVs(want), count)
	}
}
