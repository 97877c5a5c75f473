package mvcc

// KeyValue is one version of a key, as etcd's mvccpb.KeyValue carries it.
type KeyValue struct {
	Key   []byte
	Value []byte
	// CreateRevision is the main revision that created the key's current
	// generation (the first put after the key was absent).
	CreateRevision int64
	// ModRevision is the main revision of this version.
	ModRevision int64
	// Version counts puts in the current generation, starting at 1.
	Version int64
	// Lease is the attached lease ID, 0 for none.
	Lease int64
}

// EventType tells a put from a delete.
type EventType uint8

// Event types, matching mvccpb.Event_EventType numerically.
const (
	EventPut    EventType = 0
	EventDelete EventType = 1
)

func (t EventType) String() string {
	if t == EventDelete {
		return "DELETE"
	}
	return "PUT"
}

// Event is one change for the watch layer. Events share memory with the
// batch that produced them; treat them as read-only. For a delete, KV holds only the
// key and the ModRevision of the deletion, as etcd reports it.
type Event struct {
	Type EventType
	KV   KeyValue
	// Rev is the full revision (with sub revision) of the change.
	Rev Revision
	// PrevKV is the version the change replaced; nil if the key was absent.
	PrevKV *KeyValue
}

// RangeOptions selects what Range returns.
type RangeOptions struct {
	// Rev is the revision to read at; <= 0 reads the current revision.
	Rev int64
	// Limit caps the returned KVs; <= 0 means no cap. Count is unaffected.
	Limit int64
	// CountOnly returns only Count.
	CountOnly bool
	// KeysOnly leaves Value empty.
	KeysOnly bool
}

// RangeResult is the answer of a Range.
type RangeResult struct {
	KVs []KeyValue
	// Rev is the store revision when the read ran (etcd's header
	// revision), not the revision read at.
	Rev int64
	// Count is the number of matching keys, regardless of Limit.
	Count int64
	// More reports that Limit cut KVs short.
	More bool
}

// TxnResult is what one write transaction did.
type TxnResult struct {
	// Rev is the store revision after the transaction: its own main
	// revision if it changed anything, else the unchanged current one.
	Rev int64
	// Events lists the changes in sub revision order.
	Events []Event
}
