package mvcc

import (
	"errors"
	"reflect"
	"testing"
)

func TestEmptyStore(t *testing.T) {
	s := openTest(t, Options{})
	if s.Rev() != 1 || s.CompactRev() != -1 || s.AppliedIndex() != 0 {
		t.Fatalf("rev %d compact %d applied %d, want 1 -1 0", s.Rev(), s.CompactRev(), s.AppliedIndex())
	}
	res := mustRange(t, s, "\x00", "\x00", RangeOptions{})
	if res.Rev != 1 || res.Count != 0 || len(res.KVs) != 0 {
		t.Fatalf("empty range = %+v", res)
	}
}

func TestRevisionsAndSubRevisions(t *testing.T) {
	s := openTest(t, Options{})
	res := txn(t, s, func(tx *WriteTxn) error {
		for _, k := range []string{"a", "b", "c"} {
			if _, err := tx.Put([]byte(k), []byte("v"), 0); err != nil {
				return err
			}
		}
		_, _, err := tx.DeleteRange([]byte("b"), nil)
		return err
	})
	if res.Rev != 2 || s.Rev() != 2 {
		t.Fatalf("txn rev %d store rev %d, want 2", res.Rev, s.Rev())
	}
	want := []Revision{{2, 0}, {2, 1}, {2, 2}, {2, 3}}
	var got []Revision
	for _, ev := range res.Events {
		got = append(got, ev.Rev)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("event revisions %v, want %v", got, want)
	}
	if res.Events[3].Type != EventDelete || res.Events[3].KV.ModRevision != 2 {
		t.Fatalf("delete event = %+v", res.Events[3])
	}
	if recs := records(t, s); !reflect.DeepEqual(recs, []string{"2.0", "2.1", "2.2", "2.3t"}) {
		t.Fatalf("records %v", recs)
	}
	if res := put(t, s, "d", "v"); res.Rev != 3 || res.Events[0].Rev != (Revision{3, 0}) {
		t.Fatalf("next txn = %+v", res)
	}
}

func TestVersionsAcrossDeleteAndRecreate(t *testing.T) {
	s := openTest(t, Options{})
	put(t, s, "k", "1")                  // rev 2
	put(t, s, "k", "2")                  // rev 3
	if n := del(t, s, "k", ""); n != 1 { // rev 4
		t.Fatalf("deleted %d", n)
	}
	put(t, s, "k", "3") // rev 5
	cases := []struct {
		rev  int64
		want string
	}{
		{2, "k=1(c2 m2 v1 l0) "},
		{3, "k=2(c2 m3 v2 l0) "},
		{4, ""},
		{5, "k=3(c5 m5 v1 l0) "},
	}
	for _, c := range cases {
		if got := all(t, s, c.rev); got != c.want {
			t.Errorf("at %d: %q, want %q", c.rev, got, c.want)
		}
	}
	if recs := records(t, s); !reflect.DeepEqual(recs, []string{"2.0", "3.0", "4.0t", "5.0"}) {
		t.Fatalf("records %v", recs)
	}
}

func TestPutAndDeleteReturnPrevious(t *testing.T) {
	s := openTest(t, Options{})
	txn(t, s, func(tx *WriteTxn) error {
		prev, err := tx.Put([]byte("a"), []byte("1"), 7)
		if prev != nil || err != nil {
			t.Fatalf("first put prev %+v err %v", prev, err)
		}
		return nil
	})
	var prev *KeyValue
	res := txn(t, s, func(tx *WriteTxn) error {
		var err error
		prev, err = tx.Put([]byte("a"), []byte("2"), 0)
		return err
	})
	want := KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 2, Version: 1, Lease: 7}
	if prev == nil || !kvEqual(*prev, want) || !kvEqual(*res.Events[0].PrevKV, want) {
		t.Fatalf("prev %+v event prev %+v, want %+v", prev, res.Events[0].PrevKV, want)
	}
	put(t, s, "b", "x")
	var n int64
	var prevs []KeyValue
	res = txn(t, s, func(tx *WriteTxn) error {
		var err error
		n, prevs, err = tx.DeleteRange([]byte("a"), []byte("c"))
		return err
	})
	if n != 2 || keysOf(prevs) != "a,b" || string(prevs[0].Value) != "2" || prevs[0].Version != 2 {
		t.Fatalf("delete n %d prevs %s", n, fmtKVs(prevs))
	}
	if len(res.Events) != 2 || res.Events[1].PrevKV == nil || string(res.Events[1].PrevKV.Value) != "x" {
		t.Fatalf("delete events %+v", res.Events)
	}
}

func TestRangeEndRules(t *testing.T) {
	s := openTest(t, Options{})
	txn(t, s, func(tx *WriteTxn) error {
		for _, k := range []string{"\x00", "a", "ab", "abc", "b", "c", "\xff"} {
			if _, err := tx.Put([]byte(k), []byte("v"), 0); err != nil {
				return err
			}
		}
		return nil
	})
	cases := []struct{ key, end, want string }{
		{"ab", "", "ab"},                           // single key
		{"zz", "", ""},                             // single missing key
		{"a", "b", "a,ab,abc"},                     // prefix "a"
		{"ab", "ac", "ab,abc"},                     // prefix "ab"
		{"b", "\x00", "b,c,\xff"},                  // from key to the end
		{"\x00", "\x00", "\x00,a,ab,abc,b,c,\xff"}, // everything
		{"", "\x00", "\x00,a,ab,abc,b,c,\xff"},     // from the first key
		{"c", "b", ""},                             // end before key
		{"b", "b", ""},                             // empty interval
		{"abc", "abc\x00", "abc"},                  // end just past key
		{"a\x00", "abc", "ab"},                     // between keys
		{"\xff", "\xff\xff", "\xff"},               // high bytes
	}
	for _, c := range cases {
		res := mustRange(t, s, c.key, c.end, RangeOptions{})
		if got := keysOf(res.KVs); got != c.want {
			t.Errorf("Range(%q,%q) = %q, want %q", c.key, c.end, got, c.want)
		}
		if res.Count != int64(len(res.KVs)) || res.More {
			t.Errorf("Range(%q,%q) count %d more %v", c.key, c.end, res.Count, res.More)
		}
	}
}

func TestLimitCountAndOptions(t *testing.T) {
	s := openTest(t, Options{})
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		put(t, s, k, "val-"+k)
	}
	del(t, s, "c", "")
	res := mustRange(t, s, "a", "z", RangeOptions{Limit: 2})
	if keysOf(res.KVs) != "a,b" || res.Count != 4 || !res.More || res.Rev != 7 {
		t.Fatalf("limit 2: %s count %d more %v rev %d", keysOf(res.KVs), res.Count, res.More, res.Rev)
	}
	res = mustRange(t, s, "a", "z", RangeOptions{Limit: 4})
	if keysOf(res.KVs) != "a,b,d,e" || res.More {
		t.Fatalf("limit 4: %s more %v", keysOf(res.KVs), res.More)
	}
	res = mustRange(t, s, "a", "z", RangeOptions{Limit: 2, Rev: 6})
	if keysOf(res.KVs) != "a,b" || res.Count != 5 || !res.More || res.Rev != 7 {
		t.Fatalf("historical limit: %s count %d rev %d", keysOf(res.KVs), res.Count, res.Rev)
	}
	res = mustRange(t, s, "a", "z", RangeOptions{CountOnly: true})
	if res.Count != 4 || res.KVs != nil || res.More {
		t.Fatalf("count only: %+v", res)
	}
	res = mustRange(t, s, "a", "z", RangeOptions{KeysOnly: true})
	if len(res.KVs) != 4 || res.KVs[0].Value != nil || res.KVs[0].ModRevision != 2 || res.KVs[0].Version != 1 {
		t.Fatalf("keys only: %s", fmtKVs(res.KVs))
	}
}

func TestRevisionErrors(t *testing.T) {
	s := openTest(t, Options{})
	for i := 0; i < 5; i++ {
		put(t, s, "k", "v") // revs 2..6
	}
	if _, err := s.Range([]byte("k"), nil, RangeOptions{Rev: 7}); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("future read: %v", err)
	}
	compact(t, s, 4)
	if _, err := s.Range([]byte("k"), nil, RangeOptions{Rev: 3}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compacted read: %v", err)
	}
	if res := mustRange(t, s, "k", "", RangeOptions{Rev: 4}); res.KVs[0].ModRevision != 4 {
		t.Fatalf("read at compact rev: %s", fmtKVs(res.KVs))
	}
	for _, rev := range []int64{3, 4} {
		if err := update(s, func(b *Batch) error { return b.Compact(rev) }); !errors.Is(err, ErrCompacted) {
			t.Fatalf("compact %d again: %v", rev, err)
		}
	}
	if err := update(s, func(b *Batch) error { return b.Compact(7) }); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("compact future: %v", err)
	}
}

func TestReadYourWritesInsideBatch(t *testing.T) {
	s := openTest(t, Options{})
	put(t, s, "x", "old") // rev 2
	err := update(s, func(b *Batch) error {
		r1, err := b.Txn(func(tx *WriteTxn) error {
			if res, _ := tx.Range([]byte("x"), nil, RangeOptions{}); res.Rev != 2 {
				t.Errorf("before writes txn reads at %d, want 2", res.Rev)
			}
			if _, err := tx.Put([]byte("x"), []byte("new"), 0); err != nil {
				return err
			}
			if _, err := tx.Put([]byte("y"), []byte("1"), 0); err != nil {
				return err
			}
			res, err := tx.Range([]byte("x"), []byte("z"), RangeOptions{})
			if err != nil {
				return err
			}
			if got := fmtKVs(res.KVs); got != "x=new(c2 m3 v2 l0) y=1(c3 m3 v1 l0) " || res.Rev != 3 {
				t.Errorf("inside txn: %q rev %d", got, res.Rev)
			}
			// Outside the batch nothing is visible yet.
			if got := all(t, s, 0); got != "x=old(c2 m2 v1 l0) " {
				t.Errorf("outside during batch: %q", got)
			}
			return nil
		})
		if err != nil || r1.Rev != 3 {
			t.Fatalf("txn 1: %v rev %d", err, r1.Rev)
		}
		_, err = b.Txn(func(tx *WriteTxn) error {
			if _, _, err := tx.DeleteRange([]byte("x"), nil); err != nil {
				return err
			}
			res, _ := tx.Range([]byte("x"), []byte("z"), RangeOptions{})
			if keysOf(res.KVs) != "y" || res.Rev != 4 {
				t.Errorf("after delete in txn 2: %s rev %d", keysOf(res.KVs), res.Rev)
			}
			res, _ = tx.Range([]byte("x"), nil, RangeOptions{Rev: 3})
			if got := fmtKVs(res.KVs); got != "x=new(c2 m3 v2 l0) " {
				t.Errorf("txn 2 reading txn 1's revision: %q", got)
			}
			if _, err := tx.Range([]byte("x"), nil, RangeOptions{Rev: 5}); !errors.Is(err, ErrFutureRev) {
				t.Errorf("future read in batch: %v", err)
			}
			return nil
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := all(t, s, 0); got != "y=1(c3 m3 v1 l0) " || s.Rev() != 4 {
		t.Fatalf("after batch: %q rev %d", got, s.Rev())
	}
}

func TestSameKeyTwiceInOneTxn(t *testing.T) {
	s := openTest(t, Options{})
	res := txn(t, s, func(tx *WriteTxn) error {
		if _, err := tx.Put([]byte("k"), []byte("1"), 0); err != nil {
			return err
		}
		prev, err := tx.Put([]byte("k"), []byte("2"), 0)
		if prev == nil || string(prev.Value) != "1" {
			t.Errorf("prev inside txn = %+v", prev)
		}
		return err
	})
	if len(res.Events) != 2 || res.Events[1].KV.Version != 2 {
		t.Fatalf("events %+v", res.Events)
	}
	if got := all(t, s, 0); got != "k=2(c2 m2 v2 l0) " {
		t.Fatalf("got %q", got)
	}
}

func TestOneRevisionPerTxnAndNoops(t *testing.T) {
	s := openTest(t, Options{})
	put(t, s, "a", "1") // rev 2
	err := update(s, func(b *Batch) error {
		revs := []int64{}
		for i := 0; i < 3; i++ {
			r, err := b.Txn(func(tx *WriteTxn) error {
				_, err := tx.Put([]byte("a"), []byte("x"), 0)
				return err
			})
			if err != nil {
				return err
			}
			revs = append(revs, r.Rev)
		}
		// Read-only and no-op delete txns keep the revision.
		r, err := b.Txn(func(tx *WriteTxn) error {
			_, err := tx.Range([]byte("a"), nil, RangeOptions{})
			return err
		})
		revs = append(revs, r.Rev)
		if err != nil {
			return err
		}
		r, err = b.Txn(func(tx *WriteTxn) error {
			n, _, err := tx.DeleteRange([]byte("nope"), []byte("nopf"))
			if n != 0 {
				t.Errorf("deleted %d", n)
			}
			return err
		})
		revs = append(revs, r.Rev)
		if !reflect.DeepEqual(revs, []int64{3, 4, 5, 5, 5}) {
			t.Errorf("revisions %v", revs)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Rev() != 5 || len(records(t, s)) != 4 {
		t.Fatalf("rev %d records %v", s.Rev(), records(t, s))
	}
	if n := del(t, s, "zzz", ""); n != 0 || s.Rev() != 5 {
		t.Fatalf("no-op delete: n %d rev %d", n, s.Rev())
	}
	if s.AppliedIndex() != 3 {
		t.Fatalf("applied index %d: no-op batches still record their index", s.AppliedIndex())
	}
}

func TestFailedTxnDiscardsItsChanges(t *testing.T) {
	s := openTest(t, Options{})
	boom := errors.New("boom")
	err := update(s, func(b *Batch) error {
		if _, err := b.Txn(func(tx *WriteTxn) error {
			_, err := tx.Put([]byte("a"), []byte("1"), 0)
			return err
		}); err != nil {
			return err
		}
		r, err := b.Txn(func(tx *WriteTxn) error {
			if _, err := tx.Put([]byte("a"), []byte("bad"), 0); err != nil {
				return err
			}
			if _, err := tx.Put([]byte("new"), []byte("bad"), 0); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || r.Rev != 2 {
			t.Errorf("failed txn: %v rev %d", err, r.Rev)
		}
		r, err = b.Txn(func(tx *WriteTxn) error {
			res, _ := tx.Range([]byte("\x00"), []byte("\x00"), RangeOptions{})
			if got := fmtKVs(res.KVs); got != "a=1(c2 m2 v1 l0) " {
				t.Errorf("after failed txn: %q", got)
			}
			_, err := tx.Put([]byte("b"), []byte("2"), 0)
			return err
		})
		if r.Rev != 3 {
			t.Errorf("next txn rev %d, want 3 (failed txn must not use a revision)", r.Rev)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := all(t, s, 0); got != "a=1(c2 m2 v1 l0) b=2(c3 m3 v1 l0) " {
		t.Fatalf("got %q", got)
	}
	if recs := records(t, s); !reflect.DeepEqual(recs, []string{"2.0", "3.0"}) {
		t.Fatalf("records %v", recs)
	}
}

func TestInputValidation(t *testing.T) {
	s := openTest(t, Options{})
	err := update(s, func(b *Batch) error {
		_, err := b.Txn(func(tx *WriteTxn) error {
			_, err := tx.Put(nil, []byte("v"), 0)
			return err
		})
		return err
	})
	if !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
	put(t, s, "a", "1")
	if err := s.Update(1, 1, func(*Batch) error { return nil }); !errors.Is(err, ErrStaleIndex) {
		t.Fatalf("stale index: %v", err)
	}
	err = update(s, func(b *Batch) error {
		_, err := b.Txn(func(*WriteTxn) error {
			_, err := b.Txn(func(*WriteTxn) error { return nil })
			return err
		})
		return err
	})
	if !errors.Is(err, errNested) {
		t.Fatalf("nested txn: %v", err)
	}
}

func TestCallerCannotAliasStoredBytes(t *testing.T) {
	s := openTest(t, Options{})
	key, val := []byte("k"), []byte("v1")
	txn(t, s, func(tx *WriteTxn) error {
		if _, err := tx.Put(key, val, 0); err != nil {
			return err
		}
		key[0], val[0] = 'X', 'X'
		res, _ := tx.Range([]byte("k"), nil, RangeOptions{})
		res.KVs[0].Value[0] = 'Y'
		return nil
	})
	if got := all(t, s, 0); got != "k=v1(c2 m2 v1 l0) " {
		t.Fatalf("got %q", got)
	}
}

func TestOnCommitAndChanges(t *testing.T) {
	s := openTest(t, Options{})
	var gotRev int64
	var got []Event
	err := update(s, func(b *Batch) error {
		b.OnCommit(func(rev int64, evs []Event) {
			gotRev, got = rev, evs
			if s.Rev() != rev {
				t.Errorf("callback ran before publication: store rev %d", s.Rev())
			}
		})
		for _, k := range []string{"a", "b"} {
			if _, err := b.Txn(func(tx *WriteTxn) error {
				_, err := tx.Put([]byte(k), []byte("v"), 0)
				return err
			}); err != nil {
				return err
			}
		}
		_, err := b.Txn(func(tx *WriteTxn) error {
			_, _, err := tx.DeleteRange([]byte("a"), nil)
			return err
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if gotRev != 4 || len(got) != 3 || got[2].Type != EventDelete || got[2].PrevKV == nil {
		t.Fatalf("callback rev %d events %+v", gotRev, got)
	}
	var replay []Event
	err = s.Read(func(r *ReadTxn) error {
		return r.Changes(2, 0, func(ev Event) bool {
			replay = append(replay, ev)
			return true
		})
	})
	if err != nil || len(replay) != 3 {
		t.Fatalf("changes: %v %+v", err, replay)
	}
	for i := range replay {
		if replay[i].Type != got[i].Type || replay[i].Rev != got[i].Rev || !kvEqual(replay[i].KV, got[i].KV) {
			t.Errorf("change %d: %+v, commit event %+v", i, replay[i], got[i])
		}
	}
	// A failed batch does not call back.
	called := false
	_ = update(s, func(b *Batch) error {
		b.OnCommit(func(int64, []Event) { called = true })
		return errors.New("abort")
	})
	if called {
		t.Fatal("OnCommit ran for a failed batch")
	}
}
