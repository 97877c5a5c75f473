package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// writeAtomicTxn puts k0..k9 with the txn's own revision as value, or
// deletes them all; readers check they never see a mix.
func writeAtomicTxn(tx *WriteTxn, deleteAll bool) error {
	if deleteAll {
		_, _, err := tx.DeleteRange([]byte("k"), []byte("l"))
		return err
	}
	val := []byte(strconv.FormatInt(tx.Rev()+1, 10))
	for i := 0; i < 10; i++ {
		if _, err := tx.Put([]byte(fmt.Sprintf("k%d", i)), val, 0); err != nil {
			return err
		}
	}
	return nil
}

// checkAtomic verifies a view of k* is all-or-nothing and self-consistent.
func checkAtomic(res RangeResult, at int64) error {
	if res.Count != 0 && res.Count != 10 {
		return fmt.Errorf("at %d saw %d keys", at, res.Count)
	}
	for _, kv := range res.KVs {
		if kv.Value != nil && string(kv.Value) != strconv.FormatInt(kv.ModRevision, 10) {
			return fmt.Errorf("at %d key %s value %s mod %d", at, kv.Key, kv.Value, kv.ModRevision)
		}
		if kv.ModRevision != res.KVs[0].ModRevision || kv.ModRevision > at {
			return fmt.Errorf("at %d mixed revisions: %s", at, fmtKVs(res.KVs))
		}
	}
	return nil
}

// TestConcurrentReadersAndWriter runs in every commit mode, and with a
// 1ms batch interval so that commits (which move records from memory to
// the file) race with reads all the time; HashKV, snapshots and SizeInUse
// commit too.
func TestConcurrentReadersAndWriter(t *testing.T) {
	modes := append(commitModes[:len(commitModes):len(commitModes)],
		struct {
			name string
			opts Options
		}{"batched-1ms", Options{BatchInterval: time.Millisecond}})
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			opts := mode.opts
			opts.CompactBatchLimit = 5
			testConcurrentReadersAndWriter(t, opts)
		})
	}
}

func testConcurrentReadersAndWriter(t *testing.T, opts Options) {
	s := openTest(t, opts)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(seed, 1))
			for !stop.Load() {
				if err := readOnce(s, rnd); err != nil {
					errc <- err
					return
				}
			}
		}(uint64(g))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if _, err := s.HashKV(0); err != nil {
				errc <- err
				return
			}
			if _, err := s.WriteSnapshot(io.Discard); err != nil {
				errc <- err
				return
			}
			if _, err := s.SizeInUse(); err != nil {
				errc <- err
				return
			}
		}
	}()
	for i := 0; i < 200; i++ {
		err := update(s, func(b *Batch) error {
			for j := 0; j <= i%3; j++ {
				if _, err := b.Txn(func(tx *WriteTxn) error { return writeAtomicTxn(tx, i%17 == 0) }); err != nil {
					return err
				}
			}
			if i%40 == 39 {
				return b.Compact(b.Rev() - 15)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func readOnce(s *Store, rnd *rand.Rand) error {
	return s.Read(func(r *ReadTxn) error {
		at := max(1, r.Rev()-rnd.Int64N(20))
		opts := RangeOptions{Rev: at, KeysOnly: rnd.IntN(4) == 0, Limit: rnd.Int64N(3) * 5}
		res, err := r.Range([]byte("k"), []byte("l"), opts)
		if errors.Is(err, ErrCompacted) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := checkAtomic(res, at); err != nil {
			return err
		}
		// A second read in the same ReadTxn answers the same.
		again, err := r.Range([]byte("k"), []byte("l"), opts)
		if errors.Is(err, ErrCompacted) {
			return nil
		}
		if err != nil || fmtKVs(again.KVs) != fmtKVs(res.KVs) || again.Rev != res.Rev {
			return fmt.Errorf("pinned read changed: %v", err)
		}
		return checkChanges(r, at)
	})
}

// checkChanges reads the history after at: every revision up to the
// pinned one, in order, each change once, wherever its record is (file or
// memory).
func checkChanges(r *ReadTxn, at int64) error {
	last := Revision{Main: at}
	err := r.Changes(at+1, 0, func(ev Event) bool {
		if !last.Less(ev.Rev) || (ev.Rev.Main != last.Main && ev.Rev.Main != last.Main+1 && last.Main != at) {
			last = Revision{Main: -1}
			return false
		}
		last = ev.Rev
		return true
	})
	switch {
	case errors.Is(err, ErrCompacted):
		return nil
	case err != nil:
		return err
	case last.Main == -1:
		return fmt.Errorf("changes after %d out of order or with gaps", at)
	case at < r.Rev() && last.Main != r.Rev():
		return fmt.Errorf("changes after %d end at %s, pinned at %d", at, last, r.Rev())
	}
	return nil
}

func TestRestoreWhileReading(t *testing.T) {
	src := openTest(t, Options{})
	for i := 0; i < 5; i++ {
		txn(t, src, func(tx *WriteTxn) error { return writeAtomicTxn(tx, false) })
	}
	var snap bytes.Buffer
	if _, err := src.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, Options{})
	for i := 0; i < 3; i++ {
		txn(t, s, func(tx *WriteTxn) error { return writeAtomicTxn(tx, false) })
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				res, err := s.Range([]byte("k"), []byte("l"), RangeOptions{})
				if err == nil {
					err = checkAtomic(res, res.Rev)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		if err := s.Restore(bytes.NewReader(snap.Bytes())); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if s.Rev() != src.Rev() || all(t, s, 0) != all(t, src, 0) {
		t.Fatalf("restored rev %d, want %d", s.Rev(), src.Rev())
	}
}
