package watch

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
)

// Options configures a Hub.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Hub fans committed changes out to watchers.
type Hub struct {
	store *mvcc.Store
	opts  Options
}

// NewHub returns a Hub over store.
func NewHub(store *mvcc.Store, opts Options) (*Hub, error) {
	return &Hub{store: store, opts: opts}, nil
}

// Committed implements apply.Observer.
func (h *Hub) Committed(rev int64, events []mvcc.Event) {}

// Restored implements apply.Observer.
func (h *Hub) Restored(rev int64) {}

// Close cancels every watcher.
func (h *Hub) Close() {}
