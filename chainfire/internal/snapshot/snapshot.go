// Package snapshot works on snapshot files taken with the Maintenance
// Snapshot call (etcdctl snapshot save): it reports what one holds and
// restores one into a fresh data directory for a new cluster, the
// counterparts of etcdutl snapshot status and restore.
package snapshot

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
)

// ErrHashMismatch: the file's trailing SHA-256 does not match its data.
var ErrHashMismatch = errors.New("snapshot: sha256 checksum mismatch")

// Info is what snapshot status reports.
type Info struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
}

// Status opens a copy of the snapshot at path (it is never modified) and
// reports its KV hash, revision, live key count and size.
func Status(path string) (Info, error) {
	dir, err := os.MkdirTemp("", "chainfire-snapshot-status-")
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "kv.db")
	if err := extract(path, db, false); err != nil {
		return Info{}, err
	}
	st, err := mvcc.Open(db, mvcc.Options{InitialMmapSize: -1})
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: open: %w", err)
	}
	defer st.Close()
	h, err := st.HashKV(0)
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: hash: %w", err)
	}
	r, err := st.Range([]byte{0}, []byte{0}, mvcc.RangeOptions{CountOnly: true})
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: count keys: %w", err)
	}
	size, err := st.Size()
	if err != nil {
		return Info{}, err
	}
	return Info{Hash: h.Hash, Revision: st.Rev(), TotalKey: int(r.Count), TotalSize: size}, nil
}

// RestoreOptions are etcdutl snapshot restore's flags that apply.
type RestoreOptions struct {
	// Snapshot is the file to restore.
	Snapshot string
	// DataDir is the new member's --data-dir; it must not exist yet, or be
	// empty.
	DataDir string
	// SkipHashCheck accepts a file without (or with a wrong) trailing
	// SHA-256, such as a copy of a member's store file.
	SkipHashCheck bool
}

// Restore writes the snapshot's store into a fresh data directory, with
// the Raft position and membership records cleared, so that a member
// started on it with --initial-cluster-state=new (and the same
// --initial-cluster on every member) founds a new cluster holding every
// key, value and revision of the snapshot.
func Restore(opts RestoreOptions) error {
	if opts.DataDir == "" {
		return errors.New("snapshot: --data-dir is required")
	}
	if entries, err := os.ReadDir(opts.DataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("snapshot: data dir %s already exists and is not empty", opts.DataDir)
	}
	dir := filepath.Join(opts.DataDir, "member")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	db := filepath.Join(dir, "kv.db")
	if err := extract(opts.Snapshot, db, opts.SkipHashCheck); err != nil {
		_ = os.RemoveAll(opts.DataDir)
		return err
	}
	if err := mvcc.ForgetRaftState(db, apply.ForgetMembership); err != nil {
		_ = os.RemoveAll(opts.DataDir)
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// extract copies the database part of the snapshot at src to dst,
// checking the SHA-256 etcd appends to a streamed snapshot. A bbolt file
// is a whole number of pages, so a size 32 bytes past a multiple of 512
// marks a file carrying the checksum.
func extract(src, dst string, skipHash bool) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	hasHash := len(data)%512 == sha256.Size
	switch {
	case hasHash:
		body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
		if got := sha256.Sum256(body); !skipHash && !bytes.Equal(got[:], sum) {
			return fmt.Errorf("%w: %s", ErrHashMismatch, src)
		}
		data = body
	case !skipHash:
		return fmt.Errorf("snapshot: %s has no sha256 checksum (use --skip-hash-check for a copied store file)", src)
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		f.Close()
		return fmt.Errorf("snapshot: write %s: %w", dst, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("snapshot: sync %s: %w", dst, err)
	}
	return f.Close()
}
