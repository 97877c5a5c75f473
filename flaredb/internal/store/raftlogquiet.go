package store

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"
)

// A leader that cannot reach a follower (its store is down, or it does not
// host the region: see downpeer.go) has hashicorp/raft log an error for
// every retry, which is twice a second per region and per follower until
// PD replaces the peer. raftLogLimiter keeps those repeats down to one
// line per follower and kind every raftLogRepeatEvery, and the next line
// written says how many were dropped. Every other line passes unchanged.

const raftLogRepeatEvery = 30 * time.Second

// repeatedRaftErrors are the messages raft repeats at each retry.
var repeatedRaftErrors = [][]byte{
	[]byte("failed to heartbeat to"),
	[]byte("failed to appendEntries to"),
	[]byte("failed to pipeline appendEntries"),
	[]byte("failed to start pipeline replication to"),
	[]byte("failed to send snapshot to"),
	[]byte("failed to contact"),
	[]byte("failed to make requestVote RPC"),
}

type raftLogLimiter struct {
	out io.Writer
	now func() time.Time

	mu      sync.Mutex
	last    map[string]time.Time
	dropped map[string]int
}

func newRaftLogLimiter(out io.Writer) *raftLogLimiter {
	return &raftLogLimiter{out: out, now: time.Now, last: map[string]time.Time{}, dropped: map[string]int{}}
}

// Write takes one log line (hclog writes a line per call).
func (l *raftLogLimiter) Write(p []byte) (int, error) {
	key := repeatKey(p)
	if key == "" {
		return l.out.Write(p)
	}
	l.mu.Lock()
	now := l.now()
	if last, ok := l.last[key]; ok && now.Sub(last) < raftLogRepeatEvery {
		l.dropped[key]++
		l.mu.Unlock()
		return len(p), nil
	}
	l.last[key] = now
	dropped := l.dropped[key]
	delete(l.dropped, key)
	l.mu.Unlock()
	line := p
	if dropped > 0 {
		line = append(bytes.TrimRight(bytes.Clone(p), "\n"), fmt.Sprintf(" (%d similar lines in the last %v not logged)\n", dropped, raftLogRepeatEvery)...)
	}
	if _, err := l.out.Write(line); err != nil {
		return 0, err
	}
	return len(p), nil
}

// repeatKey names a repeated-failure line by its message and follower
// ("" for any other line).
func repeatKey(p []byte) string {
	for _, msg := range repeatedRaftErrors {
		if bytes.Contains(p, msg) {
			return string(msg) + " " + string(field(p, "peer="))
		}
	}
	return ""
}

// field returns the value of name in an hclog line: up to the next space,
// or the quoted string (hclog quotes values with spaces, e.g. a server).
func field(p []byte, name string) []byte {
	i := bytes.Index(p, []byte(name))
	if i < 0 {
		return nil
	}
	v := p[i+len(name):]
	if len(v) > 0 && v[0] == '"' {
		if j := bytes.IndexByte(v[1:], '"'); j >= 0 {
			return v[:j+2]
		}
	}
	if j := bytes.IndexAny(v, " \n"); j >= 0 {
		v = v[:j]
	}
	return v
}
