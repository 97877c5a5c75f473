package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

var (
	bktLog         = []byte("audit_log")
	bktCheckpoints = []byte("audit_checkpoints") // seq -> signed checkpoint
	bktMeta        = []byte("audit_meta")
	keyHead        = []byte("head") // seq(8) || hash(hex)
	keySigning     = []byte("signing_key")
)

// DB is the part of the IAM store the log uses: transactions on the same
// bbolt file, so records can share a transaction with the change they log.
type DB interface {
	UpdateTx(ctx context.Context, fn func(*bolt.Tx) error) error
	ViewTx(ctx context.Context, fn func(*bolt.Tx) error) error
}

// AllowLevel says which allow decisions are recorded; denies always are.
type AllowLevel int

// Allow levels.
const (
	AllowNone AllowLevel = iota
	AllowSampled
	AllowAll
)

// Config configures a Log.
type Config struct {
	Allow AllowLevel
	// SampleEvery keeps one allow in SampleEvery at AllowSampled (default 100).
	SampleEvery uint64
	Now         func() time.Time
	Meter       metric.MeterProvider
}

// Log is the audit log.
type Log struct {
	db      DB
	cfg     Config
	key     ed25519.PrivateKey
	allows  atomic.Uint64
	written metric.Int64Counter
	failed  metric.Int64Counter
	length  atomic.Uint64
	// queue is the batch writer's input while RunDecisionWriter runs.
	queue atomic.Pointer[chan Record]
}

// Open prepares the log's buckets and its signing key (created on first
// start and kept in the file).
func Open(ctx context.Context, db DB, cfg Config) (*Log, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SampleEvery == 0 {
		cfg.SampleEvery = 100
	}
	if cfg.Meter == nil {
		cfg.Meter = noop.NewMeterProvider()
	}
	l := &Log{db: db, cfg: cfg}
	err := db.UpdateTx(ctx, func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bktLog, bktCheckpoints, bktMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bktMeta)
		if seed := meta.Get(keySigning); seed != nil {
			if len(seed) != ed25519.SeedSize {
				return errors.New("stored signing key has the wrong size")
			}
			l.key = ed25519.NewKeyFromSeed(seed)
		} else {
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			l.key = priv
			if err := meta.Put(keySigning, priv.Seed()); err != nil {
				return err
			}
		}
		seq, _ := head(tx)
		l.length.Store(seq)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	m := cfg.Meter.Meter("photoncloud/iam/audit")
	l.written, _ = m.Int64Counter("iam_audit_records_written_total", metric.WithDescription("Audit records committed."))
	l.failed, _ = m.Int64Counter("iam_audit_verification_failures_total", metric.WithDescription("Verify runs that found a broken chain."))
	_, _ = m.Int64ObservableGauge("iam_audit_chain_length", metric.WithDescription("Sequence number of the chain head."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(l.length.Load()))
			return nil
		}))
	return l, nil
}

// PublicKey is the key checkpoints are signed with.
func (l *Log) PublicKey() ed25519.PublicKey { return l.key.Public().(ed25519.PublicKey) }

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// head returns the chain head: last sequence and its hash.
func head(tx *bolt.Tx) (uint64, string) {
	raw := tx.Bucket(bktMeta).Get(keyHead)
	if len(raw) < 8 {
		return 0, zeroHash
	}
	return binary.BigEndian.Uint64(raw[:8]), string(raw[8:])
}

// AppendTx chains r onto the log inside tx, filling Seq, ID, PrevHash and
// Hash (and Time when empty).
func (l *Log) AppendTx(tx *bolt.Tx, r Record) error {
	if err := checkNoSecrets(&r); err != nil {
		return err
	}
	if r.Time == "" {
		r.Time = l.cfg.Now().UTC().Format(time.RFC3339Nano)
	}
	seq, prev := head(tx)
	r.Seq = seq + 1
	r.ID = recordID(r.Seq)
	r.PrevHash = prev
	if err := tx.Bucket(bktLog).Put(seqKey(r.Seq), r.seal()); err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	h := append(seqKey(r.Seq), r.Hash...)
	if err := tx.Bucket(bktMeta).Put(keyHead, h); err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	tx.OnCommit(func() {
		l.length.Store(r.Seq)
		l.written.Add(context.Background(), 1)
	})
	return nil
}

// recordID is "ev_" and the sequence as 16 hex digits.
func recordID(seq uint64) string {
	var b [19]byte
	copy(b[:], "ev_")
	hex.Encode(b[3:], seqKey(seq))
	return string(b[:])
}

// Append records r in a transaction of its own.
func (l *Log) Append(ctx context.Context, r Record) error {
	return l.db.UpdateTx(ctx, func(tx *bolt.Tx) error { return l.AppendTx(tx, r) })
}

// Request describes who asks, carried in the context from the API layer.
type Request struct {
	Principal string
	SourceIP  string
	RequestID string
}

type requestKey struct{}

// WithRequest attaches the caller's description to ctx.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// FromContext fills a record's request fields and trace id from ctx.
func FromContext(ctx context.Context, r Record) Record {
	if req, ok := ctx.Value(requestKey{}).(Request); ok {
		if r.Principal == "" {
			r.Principal = req.Principal
		}
		if r.SourceIP == "" {
			r.SourceIP = req.SourceIP
		}
		if r.RequestID == "" {
			r.RequestID = req.RequestID
		}
	}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		r.TraceID = sc.TraceID().String()
	}
	return r
}

// Event records an authentication or token event with its outcome.
func (l *Log) Event(ctx context.Context, principal, action, outcome, reason string) error {
	return l.Append(ctx, FromContext(ctx, Record{Principal: principal, Action: action, Resource: "iam", Outcome: outcome, Reason: reason}))
}

func hexOK(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s) == 64
}
