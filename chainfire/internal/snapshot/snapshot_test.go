package snapshot

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
)

// writeSnapshot builds a store with n keys (each written twice) at Raft
// index 100 plus a membership bucket, and saves it as etcdctl snapshot
// save does: the database followed by its SHA-256.
func writeSnapshot(t *testing.T, n int) (string, int64) {
	t.Helper()
	dir := t.TempDir()
	st, err := mvcc.Open(filepath.Join(dir, "kv.db"), mvcc.Options{InitialMmapSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for round := range 2 {
		err := st.Update(uint64(100+round), 3, func(b *mvcc.Batch) error {
			if _, err := b.Tx().CreateBucketIfNotExists([]byte("members")); err != nil {
				return err
			}
			for i := range n {
				if _, err := b.Txn(func(tx *mvcc.WriteTxn) error {
					_, err := tx.Put([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprintf("v%d-%d", round, i)), 0)
					return err
				}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := st.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	path := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, st.Rev()
}

func TestStatusAndRestore(t *testing.T) {
	path, rev := writeSnapshot(t, 30)
	info, err := Status(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Revision != rev || info.TotalKey != 30 || info.TotalSize <= 0 || info.Hash == 0 {
		t.Fatalf("status %+v, want revision %d and 30 keys", info, rev)
	}

	dataDir := filepath.Join(t.TempDir(), "m0")
	if err := Restore(RestoreOptions{Snapshot: path, DataDir: dataDir}); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dataDir, "member", "kv.db")
	st, err := mvcc.Open(db, mvcc.Options{InitialMmapSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rev() != rev || st.AppliedIndex() != 0 || st.AppliedTerm() != 0 {
		t.Fatalf("restored: revision %d applied %d term %d; want revision %d and no Raft position", st.Rev(), st.AppliedIndex(), st.AppliedTerm(), rev)
	}
	h, err := st.HashKV(0)
	if err != nil || h.Hash != info.Hash {
		t.Fatalf("restored hash %+v (%v), snapshot status said %x", h, err, info.Hash)
	}
	err = st.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("members")) != nil {
			return errors.New("the old cluster's members bucket survived")
		}
		return nil
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A second restore into the same directory is refused.
	if err := Restore(RestoreOptions{Snapshot: path, DataDir: dataDir}); err == nil {
		t.Fatal("restore into a non-empty data dir succeeded")
	}
}

func TestRestoreChecksHash(t *testing.T) {
	path, _ := writeSnapshot(t, 5)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(bad, data, 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "m0")
	if err := Restore(RestoreOptions{Snapshot: bad, DataDir: dataDir}); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("restore of a damaged snapshot: %v", err)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left %s behind (%v)", dataDir, err)
	}
	// A bare store file (no checksum) needs --skip-hash-check.
	bare := filepath.Join(t.TempDir(), "bare.db")
	if err := os.WriteFile(bare, data[:len(data)-sha256.Size], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Restore(RestoreOptions{Snapshot: bare, DataDir: dataDir}); err == nil {
		t.Fatal("restore of a file without checksum succeeded without --skip-hash-check")
	}
}

func TestCheckClusterFlags(t *testing.T) {
	for _, tc := range []struct {
		name, initial, advertise string
		ok                       bool
	}{
		{"m0", "m0=http://a:1,m1=http://b:1", "http://a:1", true},
		{"m0", "", "", true},
		{"m2", "m0=http://a:1,m1=http://b:1", "", false},
		{"m0", "m0=http://a:1", "http://c:1", false},
		{"m0", "m0", "", false},
	} {
		if err := checkClusterFlags(tc.name, tc.initial, tc.advertise); (err == nil) != tc.ok {
			t.Errorf("checkClusterFlags(%q, %q, %q) = %v, want ok=%v", tc.name, tc.initial, tc.advertise, err, tc.ok)
		}
	}
}
