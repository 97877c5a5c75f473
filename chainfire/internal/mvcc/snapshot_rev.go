package mvcc

// Revision is the store revision the snapshot holds, read in the same
// transaction as its data (a Snapshot RPC's header reports it).
func (sn *Snapshot) Revision() int64 { return max(sn.meta.rev, 1) }
