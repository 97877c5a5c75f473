// Package downpeertest holds the cluster tests of replica repair after a
// store was down: real Chainfire, a real PD and three in-process stores
// whose Raft logs can be compacted on demand. One store misses splits
// (it catches up from a snapshot and never sees them), or comes back
// with a stale replica of a region its peer was removed from, which must
// make way for the peer PD adds there again, or be collected by peer GC
// when PD placed the region elsewhere (four stores).
package downpeertest
