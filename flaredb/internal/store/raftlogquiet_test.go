package store

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestRaftLogLimiterKeepsOneRepeatPerPeer: raft's per-retry errors about
// one follower are written once per raftLogRepeatEvery, the next one says
// how many were dropped, other followers and other lines are untouched.
func TestRaftLogLimiterKeepsOneRepeatPerPeer(t *testing.T) {
	var out bytes.Buffer
	l := newRaftLogLimiter(&out)
	now := time.Unix(1_800_000_000, 0)
	l.now = func() time.Time { return now }
	write := func(line string) {
		t.Helper()
		if n, err := l.Write([]byte(line + "\n")); err != nil || n != len(line)+1 {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	hb := func(addr string) string {
		return `2026-11-29T07:00:00.000Z [ERROR] raft-region-5: failed to heartbeat to: peer=` + addr + ` backoff time=500ms error="EOF"`
	}
	ae := func(peer string) string {
		return `2026-11-29T07:00:00.000Z [ERROR] raft-region-5: failed to appendEntries to: peer="{Voter ` + peer + ` 127.0.0.1:7}" error=EOF`
	}
	for range 100 {
		write(hb("127.0.0.1:7"))
		write(ae("8"))
		now = now.Add(100 * time.Millisecond)
	}
	write(hb("127.0.0.1:9")) // another follower
	write(ae("10"))
	write("2026-11-29T07:00:10.000Z [ERROR] raft-region-5: failed to list snapshots: error=boom")
	now = now.Add(raftLogRepeatEvery)
	write(hb("127.0.0.1:7"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines written, want 6:\n%s", len(lines), out.String())
	}
	if !strings.HasSuffix(lines[5], "(99 similar lines in the last 30s not logged)") {
		t.Fatalf("last line %q does not count the dropped repeats", lines[5])
	}
}
