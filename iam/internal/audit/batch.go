package audit

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// maxBatch bounds the decision records committed in one transaction.
const maxBatch = 256

// RunDecisionWriter commits decision records in batches, one transaction
// (and one fsync) per batch instead of per decision, until ctx ends; it
// then drains what is queued. While it runs, RecordDecision enqueues and
// blocks only when the queue is full (backpressure rather than loss: a
// deny is never dropped). Without it, RecordDecision writes synchronously.
func (l *Log) RunDecisionWriter(ctx context.Context) {
	q := make(chan Record, 4*maxBatch)
	l.queue.Store(&q)
	defer func() {
		l.queue.Store(nil)
		l.drain(q)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-q:
			l.commitBatch(r, q)
		}
	}
}

func (l *Log) drain(q chan Record) {
	for {
		select {
		case r := <-q:
			l.commitBatch(r, q)
		default:
			return
		}
	}
}

// commitBatch writes first and whatever else is already queued, up to
// maxBatch, in one transaction.
func (l *Log) commitBatch(first Record, q chan Record) {
	batch := []Record{first}
	for len(batch) < maxBatch {
		select {
		case r := <-q:
			batch = append(batch, r)
			continue
		default:
		}
		break
	}
	_ = l.db.UpdateTx(context.Background(), func(tx *bolt.Tx) error {
		for _, r := range batch {
			if err := l.AppendTx(tx, r); err != nil && err != ErrSecret {
				return err
			}
		}
		return nil
	})
}

// enqueueOrWrite hands a decision record to the batch writer when it runs.
func (l *Log) enqueueOrWrite(ctx context.Context, r Record) {
	if q := l.queue.Load(); q != nil {
		select {
		case *q <- r:
			return
		case <-ctx.Done():
		}
	}
	_ = l.Append(context.WithoutCancel(ctx), r)
}
