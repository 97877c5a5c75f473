// Package downpeertest holds the cluster test of replica repair after a
// missed split: real Chainfire, a real PD and three in-process stores
// whose Raft logs can be compacted on demand, so a store that was down
// catches up from a snapshot and never sees the split.
package downpeertest
