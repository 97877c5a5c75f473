package audit

import (
	"context"
	"runtime"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/photoncloud/core/iam/internal/authz"
)

// BenchmarkAppend is one audited event per transaction (one fsync each).
func BenchmarkAppend(b *testing.B) {
	_, l := openLog(b, Config{})
	ctx := context.Background()
	for b.Loop() {
		if err := l.Append(ctx, Record{Principal: "user:a", Action: "iam.auth.login", Resource: "iam", Outcome: OutcomeSuccess}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecisionBatched is decision recording through the batch writer.
func BenchmarkDecisionBatched(b *testing.B) {
	_, l := openLog(b, Config{Allow: AllowAll})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.RunDecisionWriter(ctx) }()
	for l.queue.Load() == nil {
		runtime.Gosched()
	}
	d := authz.DecisionRecord{Principal: "user:a", Permission: "p.q.r", Resource: "r", Allowed: false}
	for b.Loop() {
		l.RecordDecision(context.Background(), d)
	}
	cancel()
	<-done
}

// BenchmarkVerify walks a 10,000-record chain.
func BenchmarkVerify(b *testing.B) {
	_, l := openLog(b, Config{})
	ctx := context.Background()
	for range 10_000 / 500 {
		_ = l.db.UpdateTx(ctx, func(tx *bolt.Tx) error {
			for range 500 {
				if err := l.AppendTx(tx, Record{Principal: "user:a", Action: "x", Resource: "r", Outcome: OutcomeDeny}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for b.Loop() {
		if rep, err := l.Verify(ctx); err != nil || !rep.OK {
			b.Fatal(rep, err)
		}
	}
}
