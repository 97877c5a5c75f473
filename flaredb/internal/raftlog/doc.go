// Package raftlog keeps the Raft logs and stable state (term, vote) of
// every region of a store in one Pebble instance (<data-dir>/raftlog),
// next to the state-machine engine, as TiKV keeps all raft logs in one
// raft engine.
//
// Why one shared log: with a log file per region, every region's Raft loop
// waits for its own fsync (two, for a bolt commit), so write throughput
// fell as regions were added. Pebble's commit pipeline groups the synced
// writes that arrive together into one WAL fsync, whichever regions they
// belong to, so N busy regions cost about one fsync per batch, not N.
//
// Keys: 'l' + region id (8 bytes, big endian) + index (8 bytes) → entry;
// 's' + region id + name → stable value. Every write is synced.
package raftlog
