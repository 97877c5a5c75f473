package etcdapi

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/member"
	"github.com/photoncloud/core/chainfire/internal/watch"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// WatchOptions tunes the Watch service.
type WatchOptions struct {
	// ProgressInterval is the period of progress notifications for
	// watchers that asked for them (etcd's
	// --watch-progress-notify-interval, default 10 minutes, at least
	// 100ms). Each stream adds up to a tenth of it as jitter.
	ProgressInterval time.Duration
	// MaxResponseBytes is the size above which a response with several
	// events is split: into fragments if the watcher asked for them,
	// otherwise at revision boundaries (default: etcd's 1.5 MiB request
	// limit plus its 512 KiB gRPC overhead).
	MaxResponseBytes int
	// ElectionTimeout paces the leader check of streams opened with
	// "hasleader: true" (default 1s): after noLeaderChecks consecutive
	// checks without a leader the stream ends with etcd's no-leader
	// error, so clientv3 moves to another member.
	ElectionTimeout time.Duration
}

const (
	defaultProgressInterval = 10 * time.Minute
	minProgressInterval     = 100 * time.Millisecond
	defaultMaxResponseBytes = 3<<19 + 512<<10
	defaultElectionTimeout  = time.Second
	// noLeaderChecks is etcd's maxNoLeaderCnt: existing streams are cut
	// more reluctantly than new requests are refused.
	noLeaderChecks = 3
)

// errNoLeader is the cause a stream is cancelled with when its member has
// been without a leader for too long.
var errNoLeader = etcderr.NoLeader

func (o WatchOptions) withDefaults() WatchOptions {
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = defaultProgressInterval
	}
	o.ProgressInterval = max(o.ProgressInterval, minProgressInterval)
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = defaultMaxResponseBytes
	}
	if o.ElectionTimeout <= 0 {
		o.ElectionTimeout = defaultElectionTimeout
	}
	return o
}

// Watch serves etcdserverpb.Watch from the member's watch hub.
type Watch struct {
	etcdserverpbconnect.UnimplementedWatchHandler
	m    *member.Member
	opts WatchOptions
}

// NewWatch returns the Watch service of m.
func NewWatch(m *member.Member, opts WatchOptions) *Watch {
	return &Watch{m: m, opts: opts.withDefaults()}
}

// Watch runs one watch stream: a receive loop turning requests into hub
// calls, a ticker for progress notifications, and this goroutine sending
// the stream's queued responses in order (connect streams allow one
// sender).
func (s *Watch) Watch(ctx context.Context, bidi *connect.BidiStream[pb.WatchRequest, pb.WatchResponse]) error {
	ws, err := s.m.Watches().NewStream()
	if err != nil {
		return etcderr.Stopped.Connect()
	}
	defer ws.Close()
	ctx, cancelCause := context.WithCancelCause(ctx)
	cancel := func() { cancelCause(nil) }
	defer cancel()
	recvErr := make(chan error, 1)
	go func() {
		defer cancel()
		recvErr <- receiveLoop(ctx, ws, bidi)
	}()
	go progressLoop(ctx, ws, s.opts.ProgressInterval)
	if bidi.RequestHeader().Get("hasleader") == "true" {
		go s.monitorLeader(ctx, cancelCause)
	}
	err = s.sendLoop(ctx, ws, bidi)
	cancel()
	return streamError(ctx, err, recvErr)
}

// streamError is what a finished stream returns: etcd's no-leader or
// stopped error when the stream was cut for that, a real receive or send
// failure, and nothing when the client simply went away.
func streamError(ctx context.Context, sendErr error, recvErr <-chan error) error {
	switch {
	case errors.Is(context.Cause(ctx), errNoLeader):
		return etcderr.NoLeader.Connect()
	case errors.Is(sendErr, watch.ErrClosed):
		return etcderr.Stopped.Connect() // the member is shutting down
	}
	select {
	case err := <-recvErr:
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
			return err
		}
	default:
	}
	if sendErr != nil && !errors.Is(sendErr, context.Canceled) {
		return sendErr
	}
	return nil
}

// monitorLeader ends a require-leader stream once the member has had no
// leader for noLeaderChecks election timeouts in a row, as etcd does.
func (s *Watch) monitorLeader(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(s.opts.ElectionTimeout)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.m.HasLeader() {
			missed = 0
			continue
		}
		if missed++; missed >= noLeaderChecks {
			cancel(errNoLeader)
			return
		}
	}
}

func receiveLoop(ctx context.Context, ws *watch.Stream, bidi *connect.BidiStream[pb.WatchRequest, pb.WatchResponse]) error {
	for {
		if err := ws.WaitRoom(ctx); err != nil {
			return err
		}
		req, err := bidi.Receive()
		if err != nil {
			return err
		}
		switch {
		case req.GetCreateRequest() != nil:
			ws.Watch(createRequest(req.GetCreateRequest()))
		case req.GetCancelRequest() != nil:
			ws.Cancel(req.GetCancelRequest().GetWatchId())
		case req.GetProgressRequest() != nil:
			ws.RequestProgress()
		}
		// Anything else is ignored, as etcd ignores it, rather than
		// ending a stream other watches share.
	}
}

func createRequest(c *pb.WatchCreateRequest) watch.Request {
	r := watch.Request{
		ID: c.GetWatchId(), Key: c.GetKey(), End: c.GetRangeEnd(), StartRev: c.GetStartRevision(),
		PrevKV: c.GetPrevKv(), ProgressNotify: c.GetProgressNotify(), Fragment: c.GetFragment(),
	}
	for _, f := range c.GetFilters() {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			r.NoPut = true
		case pb.WatchCreateRequest_NODELETE:
			r.NoDelete = true
		}
	}
	return r
}

func progressLoop(ctx context.Context, ws *watch.Stream, interval time.Duration) {
	// Jitter keeps streams opened together from notifying together.
	t := time.NewTicker(interval + rand.N(interval/10+1))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ws.ProgressTick()
		}
	}
}

// maxUnflushed bounds the responses sent between two flushes, so the
// first of a long run does not wait for the last.
const maxUnflushed = 64

func (s *Watch) sendLoop(ctx context.Context, ws *watch.Stream, bidi *connect.BidiStream[pb.WatchRequest, pb.WatchResponse]) error {
	batcher := flushBatcher(ctx)
	for {
		r, err := ws.Next(ctx)
		if err != nil {
			return err
		}
		// Send what is queued now with one flush at the end.
		batcher.hold()
		for n := 0; ; n++ {
			if err := s.send(bidi, &r); err != nil {
				batcher.release()
				return err
			}
			var more bool
			if n+1 >= maxUnflushed {
				break
			}
			if r, more = ws.TryNext(); !more {
				break
			}
		}
		batcher.release()
	}
}

func (s *Watch) send(bidi *connect.BidiStream[pb.WatchRequest, pb.WatchResponse], r *watch.Response) error {
	for _, part := range splitResponse(s.toProto(r), s.opts.MaxResponseBytes, r.Fragment) {
		if err := bidi.Send(part); err != nil {
			return err
		}
	}
	return nil
}

func (s *Watch) toProto(r *watch.Response) *pb.WatchResponse {
	return &pb.WatchResponse{
		Header:          s.m.Header(r.Rev),
		WatchId:         r.WatchID,
		Created:         r.Created,
		Canceled:        r.Canceled,
		CompactRevision: r.CompactRev,
		CancelReason:    r.CancelReason,
		Events:          eventsToProto(r.Events),
	}
}
