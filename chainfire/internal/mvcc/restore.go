package mvcc

import (
	"fmt"

	"go.etcd.io/bbolt"
)

// ForgetRaftState clears the Raft position recorded in the store file at
// path (applied index and term), so a member that starts a new cluster
// from this data, with a fresh Raft log, applies that log from its first
// entry. The keys, their history and the revision stay. fn, when set,
// runs in the same transaction, for sibling packages to clear their own
// per-cluster records.
func ForgetRaftState(path string, fn func(tx *bbolt.Tx) error) error {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: defaultOpenTimeout})
	if err != nil {
		return fmt.Errorf("mvcc: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(keyBucket) == nil || tx.Bucket(metaBucket) == nil {
			return fmt.Errorf("%w: %s is not a store file", ErrCorrupt, path)
		}
		if err := putMeta(tx, metaAppliedIndex, 0); err != nil {
			return err
		}
		if err := putMeta(tx, metaAppliedTerm, 0); err != nil {
			return err
		}
		if fn != nil {
			return fn(tx)
		}
		return nil
	})
	return joinClose(err, db)
}

func joinClose(err error, db *bbolt.DB) error {
	if cerr := db.Close(); err == nil && cerr != nil {
		return fmt.Errorf("mvcc: close: %w", cerr)
	}
	return err
}
