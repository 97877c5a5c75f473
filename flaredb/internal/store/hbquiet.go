package store

import (
	"fmt"
	"strings"
)

// quietBeats is how many region heartbeat intervals a leader may skip
// while its region reports exactly what PD last heard: with the default
// 10 s interval an unchanged region is reported once a minute, so 1,000
// quiet regions cost PD about 17 heartbeats a second instead of 100.
// Changes (range, epoch, peers, leader term, size in MiB) are reported at
// the next interval, and so is everything while PD has a membership
// change pending for the region, so the replica checker is not slowed.
// The set of followers reported down (downpeer.go) is part of the
// fingerprint: a peer going down or coming back is reported at once, and
// while it stays down each quiet report carries its current down time, so
// PD decides at most quietBeats intervals late (against a threshold of
// minutes) and a down store does not bring every region's heartbeats back
// to full rate.
const quietBeats = 5

// hbState is what the region heartbeat loop (its only user) remembers of
// a peer's last report.
type hbState struct {
	reported string // fingerprint of the last report PD accepted
	skipped  int
	pending  bool // PD answered with a membership change
}

// heartbeatDue reports whether the leader should send a region heartbeat
// now, and records the decision.
func (p *Peer) heartbeatDue() bool {
	fp := p.heartbeatFingerprint()
	h := &p.hb
	if fp != h.reported || h.pending || h.skipped >= quietBeats {
		h.reported, h.skipped = fp, 0
		return true
	}
	h.skipped++
	return false
}

func (p *Peer) heartbeatFingerprint() string {
	rep := p.fsm.replica()
	if rep == nil {
		return ""
	}
	meta := rep.Region()
	size, _ := rep.ApproximateSize()
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d/%d/%d/%d/", meta.GetId(), meta.GetEpoch().GetConfVer(), meta.GetEpoch().GetVersion(),
		p.raft.CurrentTerm(), size>>20)
	for _, peer := range meta.GetPeers() {
		fmt.Fprintf(&b, "%d:%d:%d,", peer.GetId(), peer.GetStoreId(), peer.GetRole())
	}
	b.WriteString("/down:")
	for _, d := range p.DownPeers() {
		fmt.Fprintf(&b, "%d,", d.GetPeer().GetId())
	}
	return b.String()
}
