// Package engine wraps the one Pebble database a FlareDB store keeps for all
// of its regions.
//
// Every region hosted by a store uses the same engine as its Raft state
// machine. A split therefore moves no data: it only rewrites region
// metadata, and the child region's keys are already where they belong.
//
// # Key layout
//
// Pebble has no column families, so the engine separates kinds of keys by a
// one-byte prefix (the same scheme as TiKV's "local" and "data" keys):
//
//	0x01 0x03 <region id: 8 bytes big endian> 0x01   region state  (flaredbv1.RegionLocalState)
//	0x01 0x03 <region id: 8 bytes big endian> 0x02   apply state   (flaredbv1.RegionApplyState)
//	'z' <user key>                                   user data     (raw value)
//
// Data keys are the user key behind a single fixed byte, so encoded keys
// sort exactly like user keys and a region's range [start, end) is the one
// contiguous engine span ['z'+start, 'z'+end) — or ['z'+start, '{') when the
// region is unbounded on the right, '{' being the byte after 'z'. Scans,
// range deletions, size estimates and snapshots of a region are therefore
// single span operations.
//
// Region ids are big endian so one region's two meta keys sit together and
// a store lists all of its regions with one ordered scan at start-up. Meta
// keys sort before every data key, so they never fall inside a data span.
//
// # Atomicity and durability
//
// Writes go through a Batch. A region's state machine puts an entry's data
// changes and its new apply state into the same batch, and Commit applies
// the batch atomically and fsyncs the WAL (pebble.Sync) before returning:
// after a crash the engine holds either all of an entry's effects together
// with its applied index, or none of them. Batches are indexed, so an entry
// later in a batch (a compare-and-swap, say) reads the writes of earlier
// entries in the same batch.
//
// Reads go through a View: a Pebble snapshot (consistent point-in-time
// state), the live engine (for single point reads), or a Batch (the engine
// plus the batch's own writes).
//
// Every level has a bloom filter, since most reads are point Gets.
package engine
