package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/photoncloud/core/iam/internal/authz"
	"github.com/photoncloud/core/iam/internal/store"
)

func openLog(t testing.TB, cfg Config) (*store.Bolt, *Log) {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	l, err := Open(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st.SetIdentityHook(l.IdentityHook())
	return st, l
}

func fill(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := range n {
		err := l.Append(context.Background(), Record{Principal: fmt.Sprintf("user:u%d", i%3),
			Action: "iam.users.update", Resource: fmt.Sprintf("users/u%d", i), Outcome: OutcomeSuccess})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, l *Log) *Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// tamper edits the audit bucket directly, as someone with the file would.
func tamper(t *testing.T, st *store.Bolt, fn func(b *bolt.Bucket)) {
	t.Helper()
	if err := st.UpdateTx(context.Background(), func(tx *bolt.Tx) error { fn(tx.Bucket(bktLog)); return nil }); err != nil {
		t.Fatal(err)
	}
}

func get(b *bolt.Bucket, seq uint64) []byte { return bytes.Clone(b.Get(seqKey(seq))) }

func TestIntactLogVerifies(t *testing.T) {
	_, l := openLog(t, Config{})
	fill(t, l, 20)
	rep := verify(t, l)
	if !rep.OK || rep.Records != 20 || rep.Head != 20 {
		t.Fatalf("intact log: %+v", rep)
	}
}

func TestTamperingFailsAtThatRecord(t *testing.T) {
	cases := map[string]func(b *bolt.Bucket){
		"change": func(b *bolt.Bucket) {
			_ = b.Put(seqKey(7), bytes.Replace(get(b, 7), []byte("users/u6"), []byte("users/uX"), 1))
		},
		"delete": func(b *bolt.Bucket) { _ = b.Delete(seqKey(7)) },
		"reorder": func(b *bolt.Bucket) {
			a, c := get(b, 7), get(b, 8)
			_ = b.Put(seqKey(7), c)
			_ = b.Put(seqKey(8), a)
		},
		"insert": func(b *bolt.Bucket) {
			// Shift 7..20 up by one and put a forged record at 7 that claims
			// to follow 6, with a correct hash of its own content.
			for s := uint64(20); s >= 7; s-- {
				_ = b.Put(seqKey(s+1), get(b, s))
			}
			r, _ := decodeRecord(get(b, 6))
			r.Seq, r.Action, r.Hash = 7, "iam.users.delete", ""
			r.Hash = r.computeHash()
			_ = b.Put(seqKey(7), r.encode())
		},
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			st, l := openLog(t, Config{})
			fill(t, l, 20)
			tamper(t, st, fn)
			rep := verify(t, l)
			if rep.OK || rep.BrokenSeq != 7 {
				t.Fatalf("want failure at 7, got %+v", rep)
			}
		})
	}
}

func TestTruncatedTailDetected(t *testing.T) {
	st, l := openLog(t, Config{})
	fill(t, l, 5)
	tamper(t, st, func(b *bolt.Bucket) { _ = b.Delete(seqKey(5)) })
	if rep := verify(t, l); rep.OK || rep.BrokenSeq != 5 {
		t.Fatalf("truncation: %+v", rep)
	}
}

func TestRewrittenHistoryCaughtByCheckpoint(t *testing.T) {
	st, l := openLog(t, Config{})
	fill(t, l, 10)
	if _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Rewrite record 4 and recompute the whole chain after it: the chain is
	// self-consistent again, only the signed checkpoint disagrees.
	tamper(t, st, func(b *bolt.Bucket) {
		prev := ""
		for s := uint64(4); s <= 10; s++ {
			r, _ := decodeRecord(get(b, s))
			if s == 4 {
				r.Principal = "user:someone-else"
			} else {
				r.PrevHash = prev
			}
			r.Hash = r.computeHash()
			prev = r.Hash
			_ = b.Put(seqKey(s), r.encode())
		}
	})
	_ = st.UpdateTx(context.Background(), func(tx *bolt.Tx) error {
		return tx.Bucket(bktMeta).Put(keyHead, append(seqKey(10), prev10(t, tx)...))
	})
	rep := verify(t, l)
	if rep.OK || rep.BrokenSeq != 10 || !strings.Contains(rep.Reason, "checkpoint") {
		t.Fatalf("rewritten history: %+v", rep)
	}
}

func prev10(t *testing.T, tx *bolt.Tx) string {
	r, err := decodeRecord(tx.Bucket(bktLog).Get(seqKey(10)))
	if err != nil {
		t.Fatal(err)
	}
	return r.Hash
}

func TestForgedCheckpointSignatureFails(t *testing.T) {
	st, l := openLog(t, Config{})
	fill(t, l, 3)
	cp, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = st.UpdateTx(context.Background(), func(tx *bolt.Tx) error {
		raw := bytes.Replace(tx.Bucket(bktCheckpoints).Get(seqKey(cp.Seq)), []byte(cp.Hash[:8]), []byte("00000000"), 1)
		return tx.Bucket(bktCheckpoints).Put(seqKey(cp.Seq), raw)
	})
	if rep := verify(t, l); rep.OK || !strings.Contains(rep.Reason, "signature") {
		t.Fatalf("forged checkpoint: %+v", rep)
	}
}

func TestRetentionBehindCheckpoint(t *testing.T) {
	st, l := openLog(t, Config{})
	ctx := context.Background()
	fill(t, l, 10)
	if _, _, err := l.Prune(ctx, 0); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("prune without any checkpoint: %v", err)
	}
	// The refused prune is itself a record (11).
	cp, err := l.Checkpoint(ctx)
	if err != nil || cp.Seq != 11 {
		t.Fatalf("checkpoint %+v %v", cp, err)
	}
	if _, _, err := l.Prune(ctx, 5); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("prune without checkpoint at 5: %v", err)
	}
	fill(t, l, 4) // 12 is the refused prune, then 13-16
	pctx := WithRequest(ctx, Request{Principal: "user:usr_pruner", SourceIP: "10.0.0.9"})
	if n, at, err := l.Prune(pctx, 11); err != nil || n != 11 || at != 11 {
		t.Fatalf("prune: %d %d %v", n, at, err)
	}
	rep := verify(t, l)
	if !rep.OK || rep.From != 12 || rep.Records != 6 || rep.Checkpoints != 1 {
		t.Fatalf("after prune: %+v", rep)
	}
	recs, _, err := l.Query(ctx, Filter{Action: ActionPrune})
	if err != nil || len(recs) != 2 || recs[0].Outcome != OutcomeFailure || recs[1].Outcome != OutcomeSuccess ||
		recs[1].Principal != "user:usr_pruner" || recs[1].Seq != 17 || !strings.Contains(recs[1].Reason, "pruned 11 records") {
		t.Fatalf("prune records: %+v %v", recs, err)
	}
	// Deleting the first record after the checkpoint is still caught.
	tamper(t, st, func(b *bolt.Bucket) { _ = b.Delete(seqKey(12)) })
	if rep := verify(t, l); rep.OK || rep.BrokenSeq != 13 && rep.BrokenSeq != 12 {
		t.Fatalf("after prune and delete: %+v", rep)
	}
}

func TestSigningKeySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 3)
	_, _ = l.Checkpoint(context.Background())
	pub := l.PublicKey()
	_ = st.Close()
	st, err = store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l2, err := Open(context.Background(), st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(l2.PublicKey()) {
		t.Fatal("signing key changed across restart")
	}
	if rep := verify(t, l2); !rep.OK || rep.Checkpoints != 1 {
		t.Fatalf("after restart: %+v", rep)
	}
}

func countRecords(t *testing.T, st *store.Bolt) (n int) {
	t.Helper()
	_ = st.ViewTx(context.Background(), func(tx *bolt.Tx) error { n = tx.Bucket(bktLog).Stats().KeyN; return nil })
	return n
}

func TestAdminChangeAndRecordCommitTogether(t *testing.T) {
	st, l := openLog(t, Config{})
	ctx := WithRequest(context.Background(), Request{Principal: "user:admin", SourceIP: "10.0.0.1", RequestID: "req-1"})
	if err := st.CreateUser(ctx, &store.User{ID: "usr_1", Name: "alice", PasswordHash: "$argon2id$v=19$m=65536$c2FsdA$aGFzaA"}); err != nil {
		t.Fatal(err)
	}
	recs, _, err := l.Query(context.Background(), Filter{Action: "iam.users.create"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("query: %v %v", recs, err)
	}
	if r := recs[0]; r.Principal != "user:admin" || r.Resource != "usr_1" || r.SourceIP != "10.0.0.1" || r.RequestID != "req-1" {
		t.Fatalf("record: %+v", r)
	}
	// The change is staged, its record appended, then the transaction
	// fails: neither may survive.
	st.SetIdentityHook(func(ctx context.Context, tx *bolt.Tx, c store.IdentityChange) error {
		if err := l.IdentityHook()(ctx, tx, c); err != nil {
			return err
		}
		return errors.New("crash after staging")
	})
	if err := st.CreateUser(ctx, &store.User{ID: "usr_2", Name: "bob"}); err == nil {
		t.Fatal("write succeeded although its transaction failed")
	}
	if _, err := st.GetUser(ctx, "usr_2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("change survived without its record: %v", err)
	}
	if n := countRecords(t, st); n != 1 {
		t.Fatalf("records = %d, want 1 (record survived without its change)", n)
	}
	// A failing change (duplicate name) leaves no record either.
	st.SetIdentityHook(l.IdentityHook())
	if err := st.CreateUser(ctx, &store.User{ID: "usr_3", Name: "alice"}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if n := countRecords(t, st); n != 1 {
		t.Fatalf("records = %d after a refused change", n)
	}
	if rep := verify(t, l); !rep.OK {
		t.Fatalf("verify: %+v", rep)
	}
}

func TestNoSecretsInRecords(t *testing.T) {
	st, l := openLog(t, Config{Allow: AllowAll})
	ctx := context.Background()
	const hash = "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
	const totp = "JBSWY3DPEHPK3PXPJBSWY3DP"
	if err := st.CreateUser(ctx, &store.User{ID: "usr_1", Name: "alice", PasswordHash: hash, TOTPSecret: totp}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateUser(ctx, "usr_1", "", func(u *store.User) error { u.PasswordHash = hash + "x"; return nil }); err != nil {
		t.Fatal(err)
	}
	_ = l.Event(ctx, "user:usr_1", "iam.auth.login", OutcomeFailure, "bad password")
	l.RecordDecision(ctx, authz.DecisionRecord{Principal: "user:usr_1", Permission: "compute.instances.get", Resource: "projects/p", Allowed: true})
	// A caller that passes a token by mistake is refused, not logged.
	if err := l.Event(ctx, "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.sig", "iam.auth.login", OutcomeSuccess, ""); !errors.Is(err, ErrSecret) {
		t.Fatalf("token in principal: %v", err)
	}
	var all bytes.Buffer
	_ = l.Export(ctx, 1, func(r *Record) error { all.Write(r.encode()); return nil })
	if all.Len() == 0 || countRecords(t, st) != 4 {
		t.Fatalf("records: %d", countRecords(t, st))
	}
	for _, secret := range []string{hash, totp, "c2FsdHNhbHQ", "eyJ"} {
		if strings.Contains(all.String(), secret) {
			t.Fatalf("secret %q in audit log: %s", secret, all.String())
		}
	}
}

func TestDecisionLevels(t *testing.T) {
	for _, tc := range []struct {
		level AllowLevel
		want  int
	}{{AllowNone, 1}, {AllowSampled, 1 + 3}, {AllowAll, 1 + 250}} {
		st, l := openLog(t, Config{Allow: tc.level, SampleEvery: 100})
		ctx := context.Background()
		l.RecordDecision(ctx, authz.DecisionRecord{Principal: "user:a", Permission: "p.q.r", Resource: "r", Allowed: false})
		for range 250 {
			l.RecordDecision(ctx, authz.DecisionRecord{Principal: "user:a", Permission: "p.q.r", Resource: "r", Allowed: true})
		}
		if n := countRecords(t, st); n != tc.want {
			t.Errorf("level %d: %d records, want %d", tc.level, n, tc.want)
		}
	}
}

func TestQueryFiltersAndPagination(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := now
	_, l := openLog(t, Config{Now: func() time.Time { return clock }})
	ctx := context.Background()
	for i := range 30 {
		clock = now.Add(time.Duration(i) * time.Minute)
		out := OutcomeSuccess
		if i%5 == 0 {
			out = OutcomeFailure
		}
		if err := l.Append(ctx, Record{Principal: fmt.Sprintf("user:u%d", i%2), Action: "iam.auth.login",
			Resource: fmt.Sprintf("projects/p%d/x", i%3), Outcome: out}); err != nil {
			t.Fatal(err)
		}
	}
	var got []*Record
	tok := ""
	for pages := 0; ; pages++ {
		page, next, err := l.Query(ctx, Filter{Principal: "user:u0", PageSize: 4, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		tok = next
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if len(got) != 15 {
		t.Fatalf("principal filter over pages: %d records", len(got))
	}
	for i, r := range got {
		if r.Principal != "user:u0" || r.Seq != uint64(2*i+1) {
			t.Fatalf("page order/filter wrong at %d: %+v", i, r)
		}
	}
	cases := []struct {
		f    Filter
		want int
	}{
		{Filter{Outcome: OutcomeFailure}, 6},
		{Filter{ResourcePrefix: "projects/p1/"}, 10},
		{Filter{Since: now.Add(10 * time.Minute), Until: now.Add(20 * time.Minute)}, 10},
		{Filter{Action: "iam.users.create"}, 0},
	}
	for _, c := range cases {
		recs, _, err := l.Query(ctx, Filter{Outcome: c.f.Outcome, ResourcePrefix: c.f.ResourcePrefix, Since: c.f.Since, Until: c.f.Until, Action: c.f.Action, PageSize: MaxPageSize})
		if err != nil || len(recs) != c.want {
			t.Errorf("%+v: %d records (%v), want %d", c.f, len(recs), err, c.want)
		}
	}
	for _, bad := range []Filter{{PageSize: MaxPageSize + 1}, {PageToken: "!!"}, {Outcome: "maybe"}, {PageToken: makeToken(0)},
		{Since: now, Until: now.Add(-time.Second)}, {Principal: strings.Repeat("x", maxFilterLen+1)}} {
		if _, _, err := l.Query(ctx, bad); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("%+v: %v, want ErrInvalidQuery", bad, err)
		}
	}
}

func TestExportResumes(t *testing.T) {
	_, l := openLog(t, Config{})
	fill(t, l, 1200)
	var seqs []uint64
	stop := errors.New("stop")
	err := l.Export(context.Background(), 1, func(r *Record) error {
		seqs = append(seqs, r.Seq)
		if len(seqs) == 700 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatal(err)
	}
	_ = l.Export(context.Background(), seqs[len(seqs)-1]+1, func(r *Record) error { seqs = append(seqs, r.Seq); return nil })
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("export order broken at %d: %d", i, s)
		}
	}
	if len(seqs) != 1200 {
		t.Fatalf("exported %d", len(seqs))
	}
}

func FuzzDecodeRecord(f *testing.F) {
	r := Record{Seq: 1, ID: "ev_1", Time: "2026-01-01T00:00:00Z", Principal: "user:a", Action: "x", Outcome: OutcomeSuccess, PrevHash: zeroHash}
	r.Hash = r.computeHash()
	f.Add(r.encode())
	f.Add([]byte(`{"seq":1}`))
	f.Add([]byte(`{"seq":1,"extra":2}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := decodeRecord(raw)
		if err != nil {
			return
		}
		if !bytes.Equal(got.encode(), raw) {
			t.Fatalf("decoded record does not re-encode to its bytes")
		}
	})
}

func FuzzFilterValidate(f *testing.F) {
	f.Add("user:a", "deny", makeToken(5), 10)
	f.Add("", "", "", 0)
	f.Add("x", "bogus", "YTE6", -1)
	f.Fuzz(func(t *testing.T, principal, outcome, token string, size int) {
		fl := Filter{Principal: principal, Outcome: outcome, PageToken: token, PageSize: size}
		seq, err := fl.Validate()
		if err == nil && (seq == 0 || size < 0 || size > MaxPageSize) {
			t.Fatalf("accepted invalid filter %+v -> %d", fl, seq)
		}
	})
}

// Decisions written through the batch writer are all committed (none
// dropped under load), in one chain that verifies.
func TestDecisionBatchWriter(t *testing.T) {
	st, l := openLog(t, Config{Allow: AllowAll})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.RunDecisionWriter(ctx) }()
	for l.queue.Load() == nil {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				l.RecordDecision(context.Background(), authz.DecisionRecord{Principal: fmt.Sprintf("user:w%d", w),
					Permission: "p.q.r", Resource: fmt.Sprintf("r/%d", i), Allowed: i%2 == 0})
			}
		}()
	}
	wg.Wait()
	cancel()
	<-done
	if n := countRecords(t, st); n != 2000 {
		t.Fatalf("%d records, want 2000", n)
	}
	if rep := verify(t, l); !rep.OK {
		t.Fatalf("verify: %+v", rep)
	}
}

// TestSealIsCanonical: the spliced encoding is byte for byte what the
// verifier recomputes, for values that need JSON escaping too.
func TestSealIsCanonical(t *testing.T) {
	for _, r := range []Record{
		{Seq: 1, ID: recordID(1), Time: "2026-01-01T00:00:00Z", Principal: "user:a", Action: "x.y.z", Resource: "orgs/o", Outcome: OutcomeDeny, PrevHash: zeroHash},
		{Seq: 1 << 40, ID: recordID(1 << 40), Time: "2026-01-01T00:00:00Z", Principal: "<&>\"\\\u2028é", Action: "a", Resource: "r", Outcome: OutcomeAllow, Reason: "q\n", PrevHash: zeroHash},
	} {
		raw := r.seal()
		want := r.computeHash()
		if r.Hash != want {
			t.Fatalf("seal hash %s, recomputed %s", r.Hash, want)
		}
		if string(raw) != string(r.encode()) {
			t.Fatalf("sealed bytes differ from encode:\n%s\n%s", raw, r.encode())
		}
		if got, err := decodeRecord(raw); err != nil || got.Hash != want {
			t.Fatalf("decode: %v %+v", err, got)
		}
	}
	if recordID(0x1f) != "ev_000000000000001f" {
		t.Fatalf("recordID: %s", recordID(0x1f))
	}
}
