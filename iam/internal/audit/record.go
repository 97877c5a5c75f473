package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeAllow   = "allow"
	OutcomeDeny    = "deny"
)

// zeroHash is the PrevHash of the first record.
var zeroHash = strings.Repeat("0", 64)

// Record is one audit entry. Field order is the canonical encoding order:
// do not reorder fields.
type Record struct {
	Seq       uint64 `json:"seq"`
	ID        string `json:"id"`
	Time      string `json:"time"`
	Principal string `json:"principal"`
	Action    string `json:"action"`
	Resource  string `json:"resource"`
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason,omitempty"`
	SourceIP  string `json:"source_ip,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	TraceID   string `json:"trace_id,omitempty"`
	PrevHash  string `json:"prev_hash"`
	Hash      string `json:"hash"`
}

// At returns the record's time.
func (r *Record) At() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r.Time)
	return t
}

// computeHash returns the record's hash over its canonical encoding with
// Hash empty.
func (r Record) computeHash() string {
	r.Hash = ""
	raw, _ := json.Marshal(r) // a struct of strings cannot fail
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// hashSuffix ends the canonical encoding of a record whose Hash is empty:
// Hash is the last field and hex digests need no escaping, so the sealed
// encoding is this prefix with the digest spliced in.
const hashSuffix = `"hash":""}`

// seal sets r.Hash and returns the stored bytes with one JSON encoding
// instead of two (one to hash, one to store): the writer of deny records
// is on the decision path's CPU budget.
func (r *Record) seal() []byte {
	r.Hash = ""
	raw, _ := json.Marshal(r)
	sum := sha256.Sum256(raw)
	r.Hash = hex.EncodeToString(sum[:])
	out := make([]byte, 0, len(raw)+len(r.Hash))
	out = append(out, raw[:len(raw)-len(hashSuffix)]...)
	return append(append(append(out, `"hash":"`...), r.Hash...), `"}`...)
}

// encode returns the canonical bytes stored for r.
func (r *Record) encode() []byte {
	raw, _ := json.Marshal(r)
	return raw
}

// maxRecordBytes bounds one stored record; larger values are corrupt.
const maxRecordBytes = 64 << 10

// decodeRecord parses stored bytes strictly: unknown fields, trailing data
// and non-canonical re-encodings are rejected, so a record that decodes is
// one whose stored bytes are exactly what its hash covers.
func decodeRecord(raw []byte) (*Record, error) {
	if len(raw) > maxRecordBytes {
		return nil, fmt.Errorf("record of %d bytes exceeds %d", len(raw), maxRecordBytes)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding record: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decoding record: trailing data")
	}
	if string(r.encode()) != string(raw) {
		return nil, fmt.Errorf("decoding record: not canonical")
	}
	if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
		return nil, fmt.Errorf("decoding record: time: %w", err)
	}
	return &r, nil
}
