package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Checkpoint is a signed statement of the chain head.
type Checkpoint struct {
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"`
	Time      string `json:"time"`
	Signature []byte `json:"signature"`
}

// signedBytes is what the signature covers: "photoncloud-iam-audit-v1\n"
// seq "\n" hash "\n" time.
func (c *Checkpoint) signedBytes() []byte {
	return fmt.Appendf(nil, "photoncloud-iam-audit-v1\n%d\n%s\n%s", c.Seq, c.Hash, c.Time)
}

// Checkpoint signs the current head and stores the checkpoint. With an
// empty log it returns nil.
func (l *Log) Checkpoint(ctx context.Context) (*Checkpoint, error) {
	var cp *Checkpoint
	err := l.db.UpdateTx(ctx, func(tx *bolt.Tx) error {
		seq, hash := head(tx)
		if seq == 0 {
			return nil
		}
		if raw := tx.Bucket(bktCheckpoints).Get(seqKey(seq)); raw != nil {
			// Head unchanged since the last checkpoint: nothing new to sign.
			cp = new(Checkpoint)
			return json.Unmarshal(raw, cp)
		}
		cp = &Checkpoint{Seq: seq, Hash: hash, Time: l.cfg.Now().UTC().Format(time.RFC3339Nano)}
		cp.Signature = ed25519.Sign(l.key, cp.signedBytes())
		raw, err := json.Marshal(cp)
		if err != nil {
			return err
		}
		return tx.Bucket(bktCheckpoints).Put(seqKey(seq), raw)
	})
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint: %w", err)
	}
	return cp, nil
}

// RunCheckpoints signs a checkpoint every interval until ctx ends.
func (l *Log) RunCheckpoints(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = l.Checkpoint(ctx)
		}
	}
}

// ErrNoCheckpoint refuses a prune not covered by a signed checkpoint.
var ErrNoCheckpoint = errors.New("audit: prune point is not covered by a signed checkpoint")

// ActionPrune is the action of the record every prune leaves.
const ActionPrune = "iam.audit.prune"

// Prune drops records up to and including through, which must be the
// sequence of a stored checkpoint (0: the newest one), so verification can
// start from it. The prune is recorded in the same transaction, attributed
// to the caller in ctx (see WithRequest); a refused prune is recorded as a
// failure. It returns the records dropped and the checkpoint used.
func (l *Log) Prune(ctx context.Context, through uint64) (n int, at uint64, err error) {
	rec := FromContext(ctx, Record{Action: ActionPrune, Resource: "iam/audit"})
	if rec.Principal == "" {
		rec.Principal = "iam"
	}
	err = l.db.UpdateTx(ctx, func(tx *bolt.Tx) error {
		n, at = 0, through
		if at == 0 {
			k, _ := tx.Bucket(bktCheckpoints).Cursor().Last()
			if k == nil {
				return ErrNoCheckpoint
			}
			at = binary.BigEndian.Uint64(k)
		}
		if tx.Bucket(bktCheckpoints).Get(seqKey(at)) == nil {
			return ErrNoCheckpoint
		}
		c := tx.Bucket(bktLog).Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= at; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		rec.Outcome, rec.Reason = OutcomeSuccess, fmt.Sprintf("pruned %d records through checkpoint %d", n, at)
		return l.AppendTx(tx, rec)
	})
	if errors.Is(err, ErrNoCheckpoint) {
		rec.Outcome, rec.Reason = OutcomeFailure, fmt.Sprintf("no signed checkpoint at %d", through)
		_ = l.Append(context.WithoutCancel(ctx), rec)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("audit: prune: %w", err)
	}
	return n, at, nil
}

// Report is the outcome of Verify.
type Report struct {
	OK bool
	// Records is the number of records checked; Checkpoints the number of
	// checkpoints whose signature and hash matched.
	Records     int
	Checkpoints int
	// From is the first sequence present; Head the chain head.
	From, Head uint64
	// BrokenSeq is the first record (sequence) that fails, and Reason why.
	BrokenSeq uint64
	Reason    string
}

func (r *Report) fail(seq uint64, format string, args ...any) *Report {
	r.OK, r.BrokenSeq, r.Reason = false, seq, fmt.Sprintf(format, args...)
	return r
}

// Verify walks the chain and the checkpoints. It returns an error only when
// the log cannot be read; a broken chain is a Report with OK false.
func (l *Log) Verify(ctx context.Context) (*Report, error) {
	var rep *Report
	err := l.db.ViewTx(ctx, func(tx *bolt.Tx) error {
		rep = verifyTx(tx, l.PublicKey())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: verify: %w", err)
	}
	if !rep.OK {
		l.failed.Add(ctx, 1)
	}
	return rep, nil
}

func loadCheckpoints(tx *bolt.Tx, pub ed25519.PublicKey) (map[uint64]*Checkpoint, *Report) {
	out := map[uint64]*Checkpoint{}
	err := tx.Bucket(bktCheckpoints).ForEach(func(k, v []byte) error {
		var cp Checkpoint
		if len(k) != 8 || json.Unmarshal(v, &cp) != nil || cp.Seq != binary.BigEndian.Uint64(k) {
			return fmt.Errorf("checkpoint %x unreadable", k)
		}
		if !ed25519.Verify(pub, cp.signedBytes(), cp.Signature) {
			return fmt.Errorf("checkpoint %d: bad signature", cp.Seq)
		}
		out[cp.Seq] = &cp
		return nil
	})
	if err != nil {
		return nil, (&Report{}).fail(0, "%v", err)
	}
	return out, nil
}

func verifyTx(tx *bolt.Tx, pub ed25519.PublicKey) *Report {
	cps, bad := loadCheckpoints(tx, pub)
	if bad != nil {
		return bad
	}
	headSeq, headHash := head(tx)
	rep := &Report{OK: true, Head: headSeq}
	c := tx.Bucket(bktLog).Cursor()
	k, v := c.First()
	want, prev := uint64(1), zeroHash
	if k != nil && len(k) == 8 && binary.BigEndian.Uint64(k) > 1 {
		// Pruned: the first record must follow a signed checkpoint.
		first := binary.BigEndian.Uint64(k)
		cp := cps[first-1]
		if cp == nil {
			return rep.fail(first, "log starts at %d without a checkpoint at %d (records deleted)", first, first-1)
		}
		want, prev = first, cp.Hash
		rep.Checkpoints++
	}
	rep.From = want
	for ; k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return rep.fail(want, "malformed key %x", k)
		}
		got := binary.BigEndian.Uint64(k)
		if got != want {
			return rep.fail(want, "record %d missing (next present is %d)", want, got)
		}
		r, err := decodeRecord(v)
		if err != nil {
			return rep.fail(want, "%v", err)
		}
		switch {
		case r.Seq != want:
			return rep.fail(want, "record claims sequence %d", r.Seq)
		case r.PrevHash != prev:
			return rep.fail(want, "previous-hash link broken")
		case !hexOK(r.Hash) || r.computeHash() != r.Hash:
			return rep.fail(want, "content does not match its hash")
		}
		if cp := cps[want]; cp != nil {
			if cp.Hash != r.Hash {
				return rep.fail(want, "record differs from signed checkpoint")
			}
			rep.Checkpoints++
		}
		prev = r.Hash
		rep.Records++
		want++
	}
	if want-1 != headSeq || (headSeq > 0 && rep.Records > 0 && prev != headHash) {
		return rep.fail(want, "chain ends at %d but head is %d (records truncated or appended outside the log)", want-1, headSeq)
	}
	for seq := range cps {
		if seq > headSeq {
			return rep.fail(headSeq+1, "checkpoint %d beyond head %d (records truncated)", seq, headSeq)
		}
	}
	return rep
}
