package watch

import (
	"errors"
	"fmt"
	"time"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
)

// maxWatchersPerSync bounds how many unsynced watchers one catch-up read
// serves, so one pass stays short.
const maxWatchersPerSync = 512

func (h *Hub) runSyncer() {
	defer close(h.done)
	t := time.NewTicker(h.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-h.quit:
			return
		case <-h.wake:
		case <-t.C:
		}
		// Keep going while passes make progress, so a watcher far behind
		// catches up at read speed rather than one batch per tick.
		for i := 0; i < 64 && h.syncOnce(); i++ {
			select {
			case <-h.quit:
				return
			default:
			}
		}
	}
}

// pick is one unsynced watcher chosen for a catch-up pass, with the
// position it had when chosen.
type pick struct {
	w      *watcher
	minRev int64
	events []mvcc.Event
}

// syncOnce runs one catch-up pass and reports whether it did anything.
func (h *Hub) syncOnce() bool {
	picks, epoch, from, compacted := h.choose()
	if len(picks) == 0 {
		return false
	}
	upTo, err := h.readHistory(picks, from, compacted)
	if err != nil {
		if !errors.Is(err, mvcc.ErrCompacted) {
			h.log.Warn("watch catch-up read failed", "from", from, "error", err.Error())
			return false
		}
		return true // a compaction overtook the read; the next pass cancels
	}
	return h.deliver(picks, epoch, upTo)
}

// choose cancels the unsynced watchers whose position was compacted,
// promotes those that are not behind, and picks up to maxWatchersPerSync
// of the rest whose streams have room. from is the lowest position picked;
// compacted is the compact revision the choice was made against.
func (h *Hub) choose() (picks []pick, epoch uint64, from, compacted int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	compacted = h.store.CompactRev()
	for w := range h.unsynced {
		switch {
		case w.minRev < compacted:
			// etcd's answer to a watcher whose history is gone: the compact
			// revision, and the watcher is cancelled. A watcher at the
			// compact revision itself is not behind it: compaction keeps
			// every change there (mvcc.ReadTxn.WatchChanges), and etcd
			// refuses only a start below the compact revision.
			h.removeLocked(w)
			w.stream.q.pushControl(Response{WatchID: w.id, Canceled: true, CompactRev: compacted, Rev: h.rev})
		case w.minRev > h.rev:
			h.promoteLocked(w)
		case len(picks) < maxWatchersPerSync && w.stream.q.hasRoom():
			picks = append(picks, pick{w: w, minRev: w.minRev})
			if from == 0 || w.minRev < from {
				from = w.minRev
			}
		}
	}
	h.answerProgressLocked()
	return picks, h.epoch, from, compacted
}

// readHistory reads the store's changes from from on, bounded by the batch
// limits but never splitting a revision, and gives each pick its share.
// It returns the last revision the read covers completely.
func (h *Hub) readHistory(picks []pick, from, compacted int64) (int64, error) {
	var upTo int64
	err := h.store.Read(func(r *mvcc.ReadTxn) error {
		var (
			evs   []mvcc.Event
			bytes int
			cut   int64 // the first revision left out, 0 if none
		)
		err := r.WatchChanges(from, 0, func(ev mvcc.Event) bool {
			if (len(evs) >= h.opts.SyncBatchEvents || bytes >= h.opts.SyncBatchBytes) && ev.Rev.Main != evs[len(evs)-1].Rev.Main {
				cut = ev.Rev.Main
				return false
			}
			evs = append(evs, ev)
			bytes += len(ev.KV.Key) + len(ev.KV.Value)
			return true
		})
		if err != nil {
			return fmt.Errorf("watch: history from %d: %w", from, err)
		}
		upTo = r.Rev()
		if cut != 0 {
			upTo = cut - 1
		}
		return share(r, picks, evs, compacted)
	})
	return upTo, err
}

// share hands each pick the events it wants, reading previous versions for
// those that asked for them (history records do not carry them). An event
// at the compact revision has its previous version compacted away; etcd
// sends such an event without one, and so does the hub.
func share(r *mvcc.ReadTxn, picks []pick, evs []mvcc.Event, compacted int64) error {
	prev := map[int]*mvcc.KeyValue{}
	for i := range picks {
		p := &picks[i]
		for j := range evs {
			ev := &evs[j]
			if !p.w.wantsFrom(ev, p.minRev) {
				continue
			}
			out := *ev
			if p.w.req.PrevKV && ev.Rev.Main > compacted {
				kv, ok := prev[j]
				if !ok {
					var err error
					if kv, err = prevVersion(r, ev); err != nil {
						return err
					}
					prev[j] = kv
				}
				out.PrevKV = kv
			}
			p.events = append(p.events, out)
		}
	}
	return nil
}

// prevVersion reads the version of ev's key just before ev.
func prevVersion(r *mvcc.ReadTxn, ev *mvcc.Event) (*mvcc.KeyValue, error) {
	res, err := r.Range(ev.KV.Key, nil, mvcc.RangeOptions{Rev: ev.Rev.Main - 1})
	if err != nil {
		return nil, fmt.Errorf("watch: previous version of %q at %d: %w", ev.KV.Key, ev.Rev.Main-1, err)
	}
	if len(res.KVs) == 0 {
		return nil, nil
	}
	return &res.KVs[0], nil
}

// deliver queues each pick's events and moves its position on. Nothing
// above the hub's revision is delivered: the synced group has not been
// given those revisions yet, and a watcher promoted now gets them live.
func (h *Hub) deliver(picks []pick, epoch uint64, upTo int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.epoch != epoch || h.closed {
		return true // the store was replaced under the read: start again
	}
	limit := min(upTo, h.rev)
	progressed := false
	for i := range picks {
		p := &picks[i]
		w := p.w
		if w.removed || w.synced || w.minRev != p.minRev {
			continue
		}
		evs := p.events
		for n := len(evs); n > 0 && evs[n-1].Rev.Main > limit; n-- {
			evs = evs[:n-1]
		}
		if len(evs) > 0 {
			if !w.stream.q.pushData(Response{WatchID: w.id, Events: evs, Rev: limit, Fragment: w.req.Fragment}) {
				continue
			}
			w.sentSinceTick = true
		}
		progressed = true
		w.minRev = max(w.minRev, limit+1)
		if w.minRev > h.rev {
			h.promoteLocked(w)
		}
	}
	h.answerProgressLocked()
	return progressed
}
