package mvcc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// openTest opens a store in a fresh temp dir and closes it at cleanup.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func reopen(t testing.TB, s *Store, opts Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(s.Path(), opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	return s2
}

// update runs fn as the next Raft entry.
func update(s *Store, fn func(b *Batch) error) error {
	return s.Update(s.AppliedIndex()+1, 1, fn)
}

// txn runs fn as a single-txn batch and fails the test on error.
func txn(t testing.TB, s *Store, fn func(tx *WriteTxn) error) TxnResult {
	t.Helper()
	var res TxnResult
	err := update(s, func(b *Batch) error {
		var err error
		res, err = b.Txn(fn)
		return err
	})
	if err != nil {
		t.Fatalf("txn: %v", err)
	}
	return res
}

func put(t testing.TB, s *Store, key, val string) TxnResult {
	t.Helper()
	return txn(t, s, func(tx *WriteTxn) error {
		_, err := tx.Put([]byte(key), []byte(val), 0)
		return err
	})
}

func del(t testing.TB, s *Store, key, end string) int64 {
	t.Helper()
	var n int64
	txn(t, s, func(tx *WriteTxn) error {
		var err error
		n, _, err = tx.DeleteRange([]byte(key), []byte(end))
		return err
	})
	return n
}

func compact(t testing.TB, s *Store, rev int64) {
	t.Helper()
	if err := update(s, func(b *Batch) error { return b.Compact(rev) }); err != nil {
		t.Fatalf("compact %d: %v", rev, err)
	}
}

func mustRange(t testing.TB, s *Store, key, end string, opts RangeOptions) RangeResult {
	t.Helper()
	res, err := s.Range([]byte(key), []byte(end), opts)
	if err != nil {
		t.Fatalf("Range(%q, %q, %+v): %v", key, end, opts, err)
	}
	return res
}

// all returns every key at rev, formatted compactly for comparisons.
func all(t testing.TB, s *Store, rev int64) string {
	t.Helper()
	return fmtKVs(mustRange(t, s, "\x00", "\x00", RangeOptions{Rev: rev}).KVs)
}

func fmtKVs(kvs []KeyValue) string {
	var sb strings.Builder
	for _, kv := range kvs {
		fmt.Fprintf(&sb, "%s=%s(c%d m%d v%d l%d) ", kv.Key, kv.Value,
			kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
	}
	return sb.String()
}

func keysOf(kvs []KeyValue) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, string(kv.Key))
	}
	return strings.Join(parts, ",")
}

// dumpIndex renders the in-memory index, to compare a rebuilt one.
func dumpIndex(s *Store) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var sb strings.Builder
	s.index.tree.Ascend(func(ki *keyIndex) bool {
		fmt.Fprintf(&sb, "%q:", ki.key)
		for _, g := range ki.gens {
			fmt.Fprintf(&sb, " [c%d v%d %v]", g.created, g.ver, g.revs)
		}
		sb.WriteString("\n")
		return true
	})
	return sb.String()
}

// records lists the key bucket's bbolt keys as revisions ("2.0", "3.0t"),
// after committing what is pending.
func records(t testing.TB, s *Store) []string {
	t.Helper()
	mustSync(t, s)
	var out []string
	err := s.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(keyBucket).ForEach(func(k, _ []byte) error {
			rev, tomb, err := parseRevKey(k)
			if err != nil {
				return err
			}
			mark := ""
			if tomb {
				mark = "t"
			}
			out = append(out, rev.String()+mark)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("records: %v", err)
	}
	return out
}

// readMetaOf reads the persisted meta after committing what is pending.
func readMetaOf(t testing.TB, s *Store) meta {
	t.Helper()
	mustSync(t, s)
	var m meta
	if err := s.View(func(tx *bbolt.Tx) error {
		var err error
		m, err = readMeta(tx)
		return err
	}); err != nil {
		t.Fatalf("meta: %v", err)
	}
	return m
}

func kvEqual(a, b KeyValue) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) &&
		a.CreateRevision == b.CreateRevision && a.ModRevision == b.ModRevision &&
		a.Version == b.Version && a.Lease == b.Lease
}

// mustSync commits the store's pending batches.
func mustSync(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

// commitModes are the two ways a store commits: every Update on its own
// (BatchInterval < 0), or batched in one long write transaction with an
// interval long enough that only Sync, limits and Close commit.
var commitModes = []struct {
	name string
	opts Options
}{
	{"per-update", Options{BatchInterval: -1}},
	{"batched", Options{BatchInterval: time.Hour}},
}

// crashCopy copies the store's file as a crash would leave it: whatever
// the last commit wrote, nothing of the open write transaction (bbolt
// writes a transaction's pages only when it commits). It opens the copy.
func crashCopy(t testing.TB, s *Store, opts Options) *Store {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "crashed.db")
	s.writeMu.Lock()
	data, err := os.ReadFile(s.Path())
	s.writeMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(dst, opts)
	if err != nil {
		t.Fatalf("open crash copy: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
