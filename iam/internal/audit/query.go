package audit

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrInvalidQuery is a malformed query or page token.
var ErrInvalidQuery = errors.New("audit: invalid query")

// Query limits.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	maxFilterLen    = 1024
)

// Filter selects records; empty fields match everything.
type Filter struct {
	Since, Until   time.Time // Since inclusive, Until exclusive
	Principal      string
	Action         string
	ResourcePrefix string
	Outcome        string
	PageSize       int
	PageToken      string
}

// Validate checks limits and parses the page token, returning the first
// sequence to read.
func (f *Filter) Validate() (uint64, error) {
	for _, s := range []string{f.Principal, f.Action, f.ResourcePrefix, f.Outcome} {
		if len(s) > maxFilterLen {
			return 0, fmt.Errorf("%w: filter longer than %d bytes", ErrInvalidQuery, maxFilterLen)
		}
	}
	switch f.Outcome {
	case "", OutcomeSuccess, OutcomeFailure, OutcomeAllow, OutcomeDeny:
	default:
		return 0, fmt.Errorf("%w: outcome %q", ErrInvalidQuery, f.Outcome)
	}
	if f.PageSize < 0 || f.PageSize > MaxPageSize {
		return 0, fmt.Errorf("%w: page size %d outside 0..%d", ErrInvalidQuery, f.PageSize, MaxPageSize)
	}
	if !f.Until.IsZero() && f.Until.Before(f.Since) {
		return 0, fmt.Errorf("%w: until before since", ErrInvalidQuery)
	}
	if f.PageToken == "" {
		return 1, nil
	}
	return parseToken(f.PageToken)
}

func parseToken(tok string) (uint64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(raw), "a1:") {
		return 0, fmt.Errorf("%w: bad page token", ErrInvalidQuery)
	}
	seq, err := strconv.ParseUint(string(raw[3:]), 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("%w: bad page token", ErrInvalidQuery)
	}
	return seq, nil
}

func makeToken(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "a1:%d", seq))
}

func (f *Filter) match(r *Record) bool {
	if f.Principal != "" && r.Principal != f.Principal ||
		f.Action != "" && r.Action != f.Action ||
		f.Outcome != "" && r.Outcome != f.Outcome ||
		!strings.HasPrefix(r.Resource, f.ResourcePrefix) {
		return false
	}
	t := r.At()
	return (f.Since.IsZero() || !t.Before(f.Since)) && (f.Until.IsZero() || t.Before(f.Until))
}

// maxScan bounds the records one page may examine, so a selective filter
// over a huge log returns a (possibly empty) page with a token rather than
// holding a read transaction for minutes.
const maxScan = 100_000

// Query returns one page of matching records in sequence order and the
// token of the next page ("" at the end).
func (l *Log) Query(ctx context.Context, f Filter) (out []*Record, next string, err error) {
	from, err := f.Validate()
	if err != nil {
		return nil, "", err
	}
	size := f.PageSize
	if size == 0 {
		size = DefaultPageSize
	}
	err = l.db.ViewTx(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bktLog).Cursor()
		scanned := 0
		for k, v := c.Seek(seqKey(from)); k != nil; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if len(out) == size || scanned == maxScan {
				next = makeToken(seq)
				return nil
			}
			scanned++
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("record %d: %w", seq, err)
			}
			if f.match(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("audit: query: %w", err)
	}
	return out, next, nil
}

// Export calls fn for every record from sequence from (1 for all) in
// order, in batches so no read transaction is held while fn blocks (on a
// slow stream). Resuming is Export(lastSeq+1).
func (l *Log) Export(ctx context.Context, from uint64, fn func(*Record) error) error {
	if from == 0 {
		from = 1
	}
	for {
		var batch []*Record
		err := l.db.ViewTx(ctx, func(tx *bolt.Tx) error {
			c := tx.Bucket(bktLog).Cursor()
			for k, v := c.Seek(seqKey(from)); k != nil && len(batch) < 500; k, v = c.Next() {
				r, err := decodeRecord(v)
				if err != nil {
					return fmt.Errorf("record %d: %w", binary.BigEndian.Uint64(k), err)
				}
				batch = append(batch, r)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("audit: export: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				return err
			}
		}
		from = batch[len(batch)-1].Seq + 1
	}
}
