package mvcc

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"
)

// WriteTxn is one etcd-level write transaction inside a Batch. It is only
// valid inside the function given to Batch.Txn.
type WriteTxn struct {
	b      *Batch
	rev    int64 // main revision of this txn's changes
	log    []txnChange
	events []Event
}

// txnChange locates one change of this txn in the overlay, for flush and
// undo.
type txnChange struct {
	pk      *pendingKey
	created bool // the overlay entry was created by this change
}

// Rev is the revision reads see: the batch's revision, plus one once this
// txn has changed something (etcd reads at beginRev+1 then).
func (t *WriteTxn) Rev() int64 {
	if len(t.log) > 0 {
		return t.rev
	}
	return t.rev - 1
}

// Tx returns the batch's bbolt transaction.
func (t *WriteTxn) Tx() *bbolt.Tx { return t.b.tx }

// Range reads like Store.Range, but sees the writes of this batch, this txn
// included. opts.Rev may name a revision of an earlier txn of the batch.
func (t *WriteTxn) Range(key, end []byte, opts RangeOptions) (RangeResult, error) {
	cur := t.Rev()
	at, err := readRev(opts.Rev, cur, t.b.compactRev)
	if err != nil {
		return RangeResult{}, err
	}
	// The batch holds writeMu, so nobody else mutates the index.
	rg := ranger{index: t.b.s.index, ov: t.b.ov, at: at, limit: opts.Limit, countOnly: opts.CountOnly}
	rg.run(key, end)
	return rg.result(t.b.recordsView(), cur, opts.KeysOnly)
}

// Put writes a new version of key and returns the version it replaced, nil
// if the key was absent. Version and CreateRevision continue the key's
// current generation or start a new one. key and value are copied.
func (t *WriteTxn) Put(key, value []byte, lease int64) (*KeyValue, error) {
	if len(key) == 0 {
		return nil, ErrEmptyKey
	}
	prev, err := t.latest(key)
	if err != nil {
		return nil, err
	}
	kv := KeyValue{
		Key:            bytes.Clone(key),
		CreateRevision: t.rev,
		ModRevision:    t.rev,
		Version:        1,
		Lease:          lease,
	}
	if len(value) > 0 {
		kv.Value = bytes.Clone(value)
	}
	if prev != nil {
		kv.CreateRevision = prev.CreateRevision
		kv.Version = prev.Version + 1
	}
	t.record(change{kv: kv}, EventPut, prev)
	return prev, nil
}

// DeleteRange deletes the live keys in [key, end) (etcd's range_end rules)
// and returns how many, with their last versions. Deleting nothing is not a
// change and does not use a revision.
func (t *WriteTxn) DeleteRange(key, end []byte) (int64, []KeyValue, error) {
	rg := ranger{index: t.b.s.index, ov: t.b.ov, at: t.Rev()}
	rg.run(key, end)
	prevs, err := fetch(t.b.recordsView(), rg.hits, true)
	if err != nil {
		return 0, nil, err
	}
	for i := range prevs {
		p := &prevs[i]
		tomb := KeyValue{Key: p.Key, ModRevision: t.rev}
		t.record(change{kv: tomb, tomb: true}, EventDelete, p)
	}
	return int64(len(prevs)), prevs, nil
}

// latest returns the live version of key as this txn sees it, or nil.
func (t *WriteTxn) latest(key []byte) (*KeyValue, error) {
	h, ok := resolve(t.b.s.index.lookup(key), t.b.ov.lookup(key), t.Rev())
	if !ok {
		return nil, nil
	}
	kvs, err := fetch(t.b.recordsView(), []hit{h}, true)
	if err != nil {
		return nil, err
	}
	return &kvs[0], nil
}

// record adds a change with the next sub revision to the overlay.
func (t *WriteTxn) record(c change, typ EventType, prev *KeyValue) {
	c.rev = Revision{Main: t.rev, Sub: int64(len(t.log))}
	c.kv.ModRevision = t.rev
	pk, created := t.b.ov.add(c)
	t.log = append(t.log, txnChange{pk: pk, created: created})
	t.events = append(t.events, Event{Type: typ, KV: c.kv, Rev: c.rev, PrevKV: prev})
}

// undo removes this txn's changes from the overlay, newest first.
func (t *WriteTxn) undo() {
	for i := len(t.log) - 1; i >= 0; i-- {
		t.b.ov.removeLast(t.log[i].pk, t.log[i].created)
	}
	t.log, t.events = nil, nil
}

// flush writes this txn's changes into the key bucket in sub revision
// order. It runs only once fn succeeded, so a failed txn never touches bbolt.
func (t *WriteTxn) flush() error {
	b := t.b.tx.Bucket(keyBucket)
	for _, ev := range t.events {
		tomb := ev.Type == EventDelete
		if err := b.Put(revKey(ev.Rev, tomb), encodeKV(&ev.KV)); err != nil {
			return fmt.Errorf("mvcc: write record %s: %w", ev.Rev, err)
		}
	}
	return nil
}
