// Package audit is IAM's tamper-evident audit log.
//
// Records live in the IAM bbolt file, in bucket "audit_log" keyed by an
// 8-byte big-endian sequence number starting at 1. An administrative change
// appends its record from the store's in-transaction hook, so the change
// and its record commit together or not at all; login, token and decision
// events append in transactions of their own.
//
// Each record is hash-chained: Hash = hex(SHA-256(canonical(record with
// Hash empty))), and the record carries PrevHash, the previous record's
// Hash (64 zeros for record 1). canonical is encoding/json of Record, whose
// fields are written in declaration order, with Time as RFC 3339 UTC with
// nanoseconds; the bytes stored in bbolt are exactly canonical(record) so
// verification recomputes the hash over the decoded record and compares.
//
// The chain alone only proves internal consistency: whoever can write the
// file can recompute every hash. IAM therefore signs checkpoints of the
// chain head (sequence, hash, time) with its own Ed25519 audit key, kept in
// bucket "audit_meta" and published through PublicKey. Verify checks every
// checkpoint's signature and that the record at its sequence has its hash,
// so rewriting history before the latest checkpoint is detected. Retention
// (Prune) may only drop records up to a signed checkpoint; verification then
// starts from that checkpoint's hash.
//
// Secrets never enter records: the record holds names of principals,
// actions and resources, never request bodies, and Append rejects fields
// that look like credentials (see redact.go).
package audit
