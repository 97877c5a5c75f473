package watch

import (
	"bytes"
	"errors"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
)

// Errors a watch creation can fail with; the texts are etcd's, because
// they reach clients as the cancel reason of the created response.
var (
	ErrDuplicateID = errors.New("mvcc: duplicate watch ID provided on the WatchStream")
	ErrEmptyRange  = errors.New("mvcc: watcher range is empty")
	ErrClosed      = errors.New("watch: stream closed")
)

// Request creates one watcher on a stream.
type Request struct {
	// ID is the client-chosen watch id; 0 lets the stream pick one.
	ID int64
	// Key and End select the keys: End nil watches Key alone, End equal
	// to "\x00" watches every key >= Key, otherwise [Key, End).
	Key, End []byte
	// StartRev is the first revision wanted (inclusive); 0 means the next
	// revision to be committed.
	StartRev int64
	// PrevKV asks for the previous version of each changed key.
	PrevKV bool
	// NoPut and NoDelete drop put or delete events.
	NoPut, NoDelete bool
	// ProgressNotify asks for periodic progress responses (see
	// Stream.ProgressTick).
	ProgressNotify bool
	// Fragment lets the server split a large response into fragments; the
	// hub only passes it on in the watcher's responses.
	Fragment bool
}

// watcher is one watch on a stream. Its fields after the key range are
// guarded by the hub's mutex.
type watcher struct {
	id     int64
	stream *Stream
	key    []byte
	end    []byte // nil: single key; empty: all keys >= key
	req    Request

	// minRev is the next revision the watcher needs. For a synced watcher
	// the hub's revision may be ahead of it: everything up to the hub's
	// revision has been delivered (see Hub.demote).
	minRev int64
	synced bool
	// sentSinceTick records events were queued since the last progress
	// tick, which makes the next periodic progress response unnecessary.
	sentSinceTick bool
	removed       bool
}

// isRange reports whether the watcher covers more than one key.
func (w *watcher) isRange() bool { return w.end != nil }

// matches reports whether key is in the watcher's range.
func (w *watcher) matches(key []byte) bool {
	switch {
	case w.end == nil:
		return bytes.Equal(key, w.key)
	case len(w.end) == 0:
		return bytes.Compare(key, w.key) >= 0
	default:
		return bytes.Compare(key, w.key) >= 0 && bytes.Compare(key, w.end) < 0
	}
}

// wants reports whether ev passes the watcher's position and filters.
// Call it under the hub's mutex; wantsFrom takes the position instead.
func (w *watcher) wants(ev *mvcc.Event) bool { return w.wantsFrom(ev, w.minRev) }

// wantsFrom reports whether ev is at or after minRev and passes the
// watcher's range and filters, which never change.
func (w *watcher) wantsFrom(ev *mvcc.Event, minRev int64) bool {
	if ev.Rev.Main < minRev {
		return false
	}
	if ev.Type == mvcc.EventPut && w.req.NoPut || ev.Type == mvcc.EventDelete && w.req.NoDelete {
		return false
	}
	return w.matches(ev.KV.Key)
}

// shape returns ev as this watcher delivers it: without PrevKV unless it
// asked for it. The event shares memory with ev; both are read-only.
func (w *watcher) shape(ev *mvcc.Event) mvcc.Event {
	out := *ev
	if !w.req.PrevKV {
		out.PrevKV = nil
	}
	return out
}

// normalizeRange applies etcd's key-range rules to a request.
func normalizeRange(key, end []byte) ([]byte, []byte, error) {
	if len(key) == 0 {
		key = []byte{0} // the smallest key
	}
	switch {
	case len(end) == 0:
		return key, nil, nil
	case len(end) == 1 && end[0] == 0:
		return key, []byte{}, nil
	case bytes.Compare(key, end) >= 0:
		return nil, nil, ErrEmptyRange
	}
	return key, end, nil
}

// watcherSet indexes watchers so a batch finds its watchers without
// testing every one: single-key watchers by key, prefix watchers (the
// common range, clientv3's WithPrefix) by prefix, found by looking up each
// prefix of an event's key, and other ranges in a list.
type watcherSet struct {
	keys     map[string]map[*watcher]struct{}
	prefixes map[string]map[*watcher]struct{}
	ranges   map[*watcher]struct{}
	// longest is the longest prefix indexed, bounding the lookups.
	longest int
	n       int
}

func newWatcherSet() watcherSet {
	return watcherSet{
		keys:     map[string]map[*watcher]struct{}{},
		prefixes: map[string]map[*watcher]struct{}{},
		ranges:   map[*watcher]struct{}{},
	}
}

// prefixEnd is etcd's range end for "every key with this prefix"; nil if
// the prefix is all 0xff bytes (then the range is everything >= it).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// isPrefix reports whether the watcher's range is exactly the keys that
// start with its key.
func (w *watcher) isPrefix() bool {
	return len(w.end) > 0 && bytes.Equal(w.end, prefixEnd(w.key))
}

func addTo(m map[string]map[*watcher]struct{}, k string, w *watcher) {
	set := m[k]
	if set == nil {
		set = map[*watcher]struct{}{}
		m[k] = set
	}
	set[w] = struct{}{}
}

func removeFrom(m map[string]map[*watcher]struct{}, k string, w *watcher) bool {
	set := m[k]
	if _, ok := set[w]; !ok {
		return false
	}
	delete(set, w)
	if len(set) == 0 {
		delete(m, k)
	}
	return true
}

func (s *watcherSet) add(w *watcher) {
	s.n++
	switch {
	case !w.isRange():
		addTo(s.keys, string(w.key), w)
	case w.isPrefix():
		addTo(s.prefixes, string(w.key), w)
		s.longest = max(s.longest, len(w.key))
	default:
		s.ranges[w] = struct{}{}
	}
}

func (s *watcherSet) remove(w *watcher) {
	var ok bool
	switch {
	case !w.isRange():
		ok = removeFrom(s.keys, string(w.key), w)
	case w.isPrefix():
		ok = removeFrom(s.prefixes, string(w.key), w)
	default:
		_, ok = s.ranges[w]
		delete(s.ranges, w)
	}
	if ok {
		s.n--
	}
}

// all returns every watcher in the set.
func (s *watcherSet) all() []*watcher {
	out := make([]*watcher, 0, s.n)
	for _, m := range []map[string]map[*watcher]struct{}{s.keys, s.prefixes} {
		for _, set := range m {
			for w := range set {
				out = append(out, w)
			}
		}
	}
	for w := range s.ranges {
		out = append(out, w)
	}
	return out
}

// each calls fn for every watcher whose range holds key.
func (s *watcherSet) each(key []byte, fn func(w *watcher)) {
	for w := range s.keys[string(key)] {
		fn(w)
	}
	if len(s.prefixes) > 0 {
		for l := 1; l <= min(len(key), s.longest); l++ {
			for w := range s.prefixes[string(key[:l])] {
				fn(w)
			}
		}
	}
	for w := range s.ranges {
		if w.matches(key) {
			fn(w)
		}
	}
}
