package compat

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// progressInterval is the server's --watch-progress-notify-interval in
// these tests (etcd's default is 10 minutes).
const progressInterval = 500 * time.Millisecond

// watchTimeout bounds the wait for one watch response.
const watchTimeout = 15 * time.Second

// ev is an event as the tests compare it.
type ev struct {
	typ      mvccpb.Event_EventType
	key, val string
	rev      int64
	prev     string // previous value, "" if none was sent
}

func (e ev) String() string {
	s := fmt.Sprintf("%s %s=%q@%d", e.typ, e.key, e.val, e.rev)
	if e.prev != "" {
		s += fmt.Sprintf(" prev=%q", e.prev)
	}
	return s
}

func evOf(e *clientv3.Event) ev {
	out := ev{typ: e.Type, key: string(e.Kv.Key), val: string(e.Kv.Value), rev: e.Kv.ModRevision}
	if e.PrevKv != nil {
		out.prev = string(e.PrevKv.Value)
	}
	return out
}

// nextResp waits for the next response on wch.
func nextResp(t *testing.T, wch clientv3.WatchChan) clientv3.WatchResponse {
	t.Helper()
	select {
	case r, ok := <-wch:
		if !ok {
			t.Fatalf("watch channel closed")
		}
		return r
	case <-time.After(watchTimeout):
		t.Fatalf("no watch response within %v", watchTimeout)
	}
	panic("unreachable")
}

// events reads responses until n events arrived, failing on errors and on
// responses that are neither events nor progress notifications.
func events(t *testing.T, wch clientv3.WatchChan, n int) []ev {
	t.Helper()
	var out []ev
	for len(out) < n {
		r := nextResp(t, wch)
		if err := r.Err(); err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		for _, e := range r.Events {
			out = append(out, evOf(e))
		}
	}
	if len(out) != n {
		t.Fatalf("got %d events %v, want %d", len(out), out, n)
	}
	return out
}

func wantEvents(t *testing.T, what string, got []ev, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i].String() != want[i] {
			t.Fatalf("%s: event %d is %s, want %s\n(all: %v)", what, i, got[i], want[i], got)
		}
	}
}

// TestWatch checks every watch option through the real clientv3 against a
// 3-member cluster, plus etcdctl watch, compaction during a watch, a
// member restart under a watch and 1,000 watches on one connection.
func TestWatch(t *testing.T) {
	ctx := deadline(t, 240*time.Second)
	c := cluster.Start(t, cluster.Config{Members: 3, ExtraFlags: []string{"--watch-progress-notify-interval=" + progressInterval.String()}})
	cli := c.Client(t)
	s := watchSuite{c: c, cli: cli, ctx: ctx}
	t.Run("KeysAndRanges", s.keysAndRanges)
	t.Run("HistoryThenLive", s.historyThenLive)
	t.Run("PrevKVAndFilters", s.prevKVAndFilters)
	t.Run("TxnInOneResponse", s.txnInOneResponse)
	t.Run("Progress", s.progress)
	t.Run("CreatedNotifyAndCancel", s.createdAndCancel)
	t.Run("WatchIDs", s.watchIDs)
	t.Run("Fragment", s.fragment)
	t.Run("Compaction", s.compaction)
	t.Run("AtCompactRevision", s.atCompactRevision)
	t.Run("Etcdctl", s.etcdctl)
	t.Run("ThousandWatchesOneConnection", s.thousand)
	t.Run("StalledReader", s.stalledReader)
	t.Run("OnFollower", s.onFollower)
	t.Run("MemberRestart", s.memberRestart)
	t.Run("RequireLeaderLosesQuorum", s.requireLeader)
}

type watchSuite struct {
	c   *cluster.Cluster
	cli *clientv3.Client
	ctx context.Context
}

func (s watchSuite) put(t *testing.T, k, v string) int64 {
	t.Helper()
	return must[*clientv3.PutResponse](t, "put "+k)(s.cli.Put(s.ctx, k, v)).Header.Revision
}

func (s watchSuite) del(t *testing.T, k string) int64 {
	t.Helper()
	return must[*clientv3.DeleteResponse](t, "delete "+k)(s.cli.Delete(s.ctx, k)).Header.Revision
}

// watch starts a watch that ends with the subtest.
func (s watchSuite) watch(t *testing.T, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	t.Helper()
	ctx, cancel := context.WithCancel(s.ctx)
	t.Cleanup(cancel)
	// Keep each watch on its own stream, so a slow one cannot hold up
	// another subtest's and a created response is never shared.
	ctx = clientv3.WithRequireLeader(ownStream(ctx, t.Name()+key))
	return s.cli.Watch(ctx, key, append(opts, clientv3.WithCreatedNotify())...)
}

// ownStream gives ctx metadata of its own: clientv3 multiplexes watches
// whose contexts carry the same outgoing metadata on one gRPC stream.
func ownStream(ctx context.Context, name string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "compat-stream", name)
}

// created waits for the created notification of a watch opened by watch.
func created(t *testing.T, wch clientv3.WatchChan) clientv3.WatchResponse {
	t.Helper()
	r := nextResp(t, wch)
	if !r.Created || r.Err() != nil {
		t.Fatalf("first response %+v (err %v), want created", r, r.Err())
	}
	return r
}

func (s watchSuite) keysAndRanges(t *testing.T) {
	p := "w/ranges/"
	single := s.watch(t, p+"b")
	rng := s.watch(t, p+"b", clientv3.WithRange(p+"d"))
	prefix := s.watch(t, p, clientv3.WithPrefix())
	from := s.watch(t, p+"c", clientv3.WithFromKey())
	for _, w := range []clientv3.WatchChan{single, rng, prefix, from} {
		created(t, w)
	}
	var revs []int64
	for _, k := range []string{"a", "b", "c", "d"} {
		revs = append(revs, s.put(t, p+k, k))
	}
	outside := s.put(t, "w/rangez", "z") // after the prefix, inside "from key"
	e := func(k string, r int64) string { return fmt.Sprintf("PUT %s%s=%q@%d", p, k, k, r) }
	wantEvents(t, "single key", events(t, single, 1), e("b", revs[1]))
	wantEvents(t, "range [b, d)", events(t, rng, 2), e("b", revs[1]), e("c", revs[2]))
	wantEvents(t, "prefix", events(t, prefix, 4), e("a", revs[0]), e("b", revs[1]), e("c", revs[2]), e("d", revs[3]))
	wantEvents(t, "from key", events(t, from, 3), e("c", revs[2]), e("d", revs[3]), fmt.Sprintf("PUT w/rangez=\"z\"@%d", outside))
}

// historyThenLive: a watch from a past revision replays history and then
// continues live, while a writer keeps writing: no gap, no duplicate.
func (s watchSuite) historyThenLive(t *testing.T) {
	p := "w/history/"
	first := s.put(t, p+"k", "0")
	for i := 1; i < 50; i++ {
		s.put(t, p+"k", fmt.Sprint(i))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 50; i < 150; i++ {
			if _, err := s.cli.Put(s.ctx, p+"k", fmt.Sprint(i)); err != nil {
				t.Errorf("put: %v", err)
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond) // let the writer get going (not an assertion)
	wch := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithRev(first+10))
	created(t, wch)
	got := events(t, wch, 140)
	wg.Wait()
	for i, e := range got {
		if e.rev != first+10+int64(i) || e.val != fmt.Sprint(10+i) {
			t.Fatalf("event %d: %s, want value %d at revision %d", i, e, 10+i, first+10+int64(i))
		}
	}
}

func (s watchSuite) prevKVAndFilters(t *testing.T) {
	p := "w/filters/"
	start := s.put(t, p+"k", "v1")
	// An explicit start: a watch from "now" served by a member that has not
	// applied the put yet would see it.
	prev := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(start+1))
	noPut := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithRev(start+1))
	noDel := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithFilterDelete(), clientv3.WithRev(start+1))
	histPrev := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(start))
	for _, w := range []clientv3.WatchChan{prev, noPut, noDel, histPrev} {
		created(t, w)
	}
	r2 := s.put(t, p+"k", "v2")
	r3 := s.del(t, p+"k")
	r4 := s.put(t, p+"k", "v4")
	wantEvents(t, "prev_kv", events(t, prev, 3),
		fmt.Sprintf(`PUT %sk="v2"@%d prev="v1"`, p, r2), fmt.Sprintf(`DELETE %sk=""@%d prev="v2"`, p, r3), fmt.Sprintf(`PUT %sk="v4"@%d`, p, r4))
	wantEvents(t, "NOPUT", events(t, noPut, 1), fmt.Sprintf(`DELETE %sk=""@%d`, p, r3))
	wantEvents(t, "NODELETE", events(t, noDel, 2), fmt.Sprintf(`PUT %sk="v2"@%d`, p, r2), fmt.Sprintf(`PUT %sk="v4"@%d`, p, r4))
	wantEvents(t, "prev_kv from history", events(t, histPrev, 4), fmt.Sprintf(`PUT %sk="v1"@%d`, p, start),
		fmt.Sprintf(`PUT %sk="v2"@%d prev="v1"`, p, r2), fmt.Sprintf(`DELETE %sk=""@%d prev="v2"`, p, r3), fmt.Sprintf(`PUT %sk="v4"@%d`, p, r4))
}

// txnInOneResponse: all events of one transaction arrive in one response,
// live and replayed.
func (s watchSuite) txnInOneResponse(t *testing.T) {
	p := "w/txn/"
	old := s.put(t, p+"c", "old")
	live := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithRev(old+1))
	created(t, live)
	resp := must[*clientv3.TxnResponse](t, "txn")(s.cli.Txn(s.ctx).Then(
		clientv3.OpPut(p+"a", "1"), clientv3.OpPut(p+"b", "2"), clientv3.OpDelete(p+"c")).Commit())
	rev := resp.Header.Revision
	hist := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithRev(rev))
	created(t, hist)
	for name, w := range map[string]clientv3.WatchChan{"live": live, "history": hist} {
		r := nextResp(t, w)
		if len(r.Events) != 3 {
			t.Fatalf("%s: first response holds %d events, want the txn's 3", name, len(r.Events))
		}
		for _, e := range r.Events {
			if e.Kv.ModRevision != rev {
				t.Fatalf("%s: event %s at %d, want %d", name, e.Kv.Key, e.Kv.ModRevision, rev)
			}
		}
	}
}

func (s watchSuite) progress(t *testing.T) {
	p := "w/progress/"
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	ctx = ownStream(ctx, "progress")
	notify := s.cli.Watch(ctx, p+"quiet", clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
	created(t, notify)
	head := s.put(t, p+"other", "x")
	// Periodic: the idle watcher hears the revision it is up to date with.
	for {
		r := nextResp(t, notify)
		if !r.IsProgressNotify() {
			t.Fatalf("got %+v, want a progress notification", r)
		}
		if r.Header.Revision >= head {
			break
		}
	}
	// Requested: RequestProgress answers on the stream sharing ctx.
	plain := s.cli.Watch(ctx, p+"plain", clientv3.WithCreatedNotify())
	created(t, plain)
	head = s.put(t, p+"other", "y")
	deadline := time.Now().Add(watchTimeout)
	for {
		if err := s.cli.RequestProgress(ctx); err != nil {
			t.Fatalf("RequestProgress: %v", err)
		}
		r := nextResp(t, plain)
		if !r.IsProgressNotify() {
			t.Fatalf("got %+v, want a progress notification", r)
		}
		if r.Header.Revision >= head {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("progress stuck at %d, below %d", r.Header.Revision, head)
		}
	}
}

func (s watchSuite) createdAndCancel(t *testing.T) {
	p := "w/cancel/"
	ctx, cancel := context.WithCancel(s.ctx)
	wch := s.cli.Watch(ctx, p+"k", clientv3.WithCreatedNotify())
	if r := created(t, wch); r.Header.Revision <= 0 {
		t.Fatalf("created header revision %d", r.Header.Revision)
	}
	cancel()
	select {
	case r, ok := <-wch:
		if ok && r.Err() == nil && !r.Canceled {
			t.Fatalf("after cancel: %+v", r)
		}
	case <-time.After(watchTimeout):
		t.Fatalf("watch channel not closed after cancel")
	}
}

// watchIDs uses the raw gRPC stream: client-chosen ids, a duplicate id
// refused on the stream, and cancel by id.
func (s watchSuite) watchIDs(t *testing.T) {
	wc := pb.NewWatchClient(s.cli.ActiveConnection())
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	st := must[pb.Watch_WatchClient](t, "open stream")(wc.Watch(ctx))
	send := func(r *pb.WatchRequest) {
		t.Helper()
		if err := st.Send(r); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	recv := func() *pb.WatchResponse {
		t.Helper()
		return must[*pb.WatchResponse](t, "receive")(st.Recv())
	}
	mk := func(id int64, key string) *pb.WatchRequest {
		return &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte(key), WatchId: id}}}
	}
	send(mk(100, "w/ids/a"))
	if r := recv(); !r.Created || r.WatchId != 100 || r.Canceled {
		t.Fatalf("create id 100: %v", r)
	}
	send(mk(100, "w/ids/b"))
	if r := recv(); !r.Created || !r.Canceled || r.WatchId != -1 || r.CancelReason != "mvcc: duplicate watch ID provided on the WatchStream" {
		t.Fatalf("duplicate id: %v", r)
	}
	send(mk(0, "w/ids/a"))
	if r := recv(); !r.Created || r.WatchId != 0 {
		t.Fatalf("automatic id: %v", r)
	}
	send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte("w/ids/a"), StartRevision: -1}}})
	if r := recv(); !r.Created || !r.Canceled || r.WatchId != -1 || r.CancelReason != rpctypes.ErrCompacted.Error() {
		t.Fatalf("negative start revision: %v", r)
	}
	send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 100}}})
	if r := recv(); !r.Canceled || r.WatchId != 100 {
		t.Fatalf("cancel 100: %v", r)
	}
	rev := s.put(t, "w/ids/a", "v")
	r := recv()
	if r.WatchId != 0 || len(r.Events) != 1 || r.Events[0].Kv.ModRevision != rev {
		t.Fatalf("event after cancelling 100: %v (want only watch 0)", r)
	}
}

// fragment: history larger than the response limit arrives whole and in
// order, with and without fragmenting.
func (s watchSuite) fragment(t *testing.T) {
	p := "w/fragment/"
	val := strings.Repeat("f", 900<<10)
	var first int64
	for i := range 5 {
		r := s.put(t, fmt.Sprintf("%s%d", p, i), val)
		if i == 0 {
			first = r
		}
	}
	for _, frag := range []bool{true, false} {
		opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(first)}
		if frag {
			opts = append(opts, clientv3.WithFragment())
		}
		wch := s.watch(t, p, opts...)
		created(t, wch)
		got := events(t, wch, 5)
		for i, e := range got {
			if e.key != fmt.Sprintf("%s%d", p, i) || e.rev != first+int64(i) || e.val != val {
				t.Fatalf("fragment=%v: event %d is %s (%d bytes)", frag, i, e.key, len(e.val))
			}
		}
	}
}

// compaction: a watcher keeps going across a compaction; a new watch from
// below it gets ErrCompacted with the compact revision and is closed.
func (s watchSuite) compaction(t *testing.T) {
	p := "w/compact/"
	first := s.put(t, p+"k", "0")
	wch := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithRev(first))
	created(t, wch)
	// Once the first event arrived the watcher is caught up (in etcd's
	// terms synced); a compaction does not disturb it from then on.
	got := events(t, wch, 1)
	var last int64
	for i := 1; i < 10; i++ {
		last = s.put(t, p+"k", fmt.Sprint(i))
	}
	must[*clientv3.CompactResponse](t, "compact")(s.cli.Compact(s.ctx, last))
	s.everyMemberApplied(t)
	after := s.put(t, p+"k", "after")
	got = append(got, events(t, wch, 10)...)
	if got[0].rev != first || got[10].rev != after {
		t.Fatalf("watch across the compaction: %v", got)
	}
	old := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithRev(first+1))
	created(t, old)
	r := nextResp(t, old)
	wantErr(t, "watch below the compaction", r.Err(), rpctypes.ErrCompacted)
	if r.CompactRevision != last || !r.Canceled {
		t.Fatalf("compacted watch: compact revision %d canceled %v, want %d true", r.CompactRevision, r.Canceled, last)
	}
	select {
	case _, ok := <-old:
		if ok {
			t.Fatalf("compacted watch channel still open")
		}
	case <-time.After(watchTimeout):
		t.Fatalf("compacted watch channel not closed")
	}
	fresh := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithRev(last+1))
	created(t, fresh)
	wantEvents(t, "watch above the compaction", events(t, fresh, 1), fmt.Sprintf(`PUT %sk="after"@%d`, p, after))
}

// everyMemberApplied returns once every member has applied what the
// cluster acknowledged so far. A watch is served from the state of
// whichever member the client picks, and a member may apply a compaction
// a moment after the one that answered Compact; a linearizable read on
// each member waits until it has caught up.
func (s watchSuite) everyMemberApplied(t *testing.T) {
	t.Helper()
	for _, ep := range s.c.Endpoints() {
		must[*clientv3.GetResponse](t, "linearizable get on "+ep)(s.c.Client(t, ep).Get(s.ctx, "w/"))
	}
}

// atCompactRevision: a watch may start at the compact revision itself
// (etcd refuses only a start below it) and replays every change made at
// it: compaction keeps the newest version of each key there and, since
// etcd 3.6, a tombstone there too. Events at the compact revision come
// without a previous version (compacted away), later ones with it.
func (s watchSuite) atCompactRevision(t *testing.T) {
	p := "w/atcompact/"
	s.put(t, p+"a", "1")
	s.put(t, p+"b", "1")
	txn := must[*clientv3.TxnResponse](t, "txn")(s.cli.Txn(s.ctx).Then(
		clientv3.OpDelete(p+"a"), clientv3.OpPut(p+"b", "2"), clientv3.OpPut(p+"c", "1"),
	).Commit())
	at := txn.Header.Revision
	later := s.put(t, p+"c", "2")
	must[*clientv3.CompactResponse](t, "compact")(s.cli.Compact(s.ctx, at, clientv3.WithCompactPhysical()))
	s.everyMemberApplied(t)

	below := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithRev(at-1))
	created(t, below)
	r := nextResp(t, below)
	wantErr(t, "watch one below the compaction", r.Err(), rpctypes.ErrCompacted)
	if r.CompactRevision != at || !r.Canceled {
		t.Fatalf("watch one below: compact revision %d canceled %v, want %d true", r.CompactRevision, r.Canceled, at)
	}

	wch := s.watch(t, p, clientv3.WithPrefix(), clientv3.WithRev(at), clientv3.WithPrevKV())
	created(t, wch)
	wantEvents(t, "watch from the compact revision", events(t, wch, 4),
		fmt.Sprintf(`DELETE %sa=""@%d`, p, at),
		fmt.Sprintf(`PUT %sb="2"@%d`, p, at),
		fmt.Sprintf(`PUT %sc="1"@%d`, p, at),
		fmt.Sprintf(`PUT %sc="2"@%d prev="1"`, p, later))
	// It then continues live.
	last := s.del(t, p+"b")
	wantEvents(t, "live after the replay", events(t, wch, 1), fmt.Sprintf(`DELETE %sb=""@%d prev="2"`, p, last))
}

// etcdctl: `etcdctl watch` prints live and historical events.
func (s watchSuite) etcdctl(t *testing.T) {
	p := "w/ctl/"
	first := s.put(t, p+"a", "1")
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, cluster.EtcdctlBinary(t), "--endpoints="+strings.Join(s.c.Endpoints(), ","),
		"watch", p, "--prefix", fmt.Sprintf("--rev=%d", first), "--prev-kv")
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	out := must[io.ReadCloser](t, "stdout pipe")(cmd.StdoutPipe())
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcdctl watch: %v", err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	s.put(t, p+"a", "2")
	s.del(t, p+"a")
	want := []string{"PUT", p + "a", "1", "PUT", p + "a", "1", p + "a", "2", "DELETE", p + "a", "2", p + "a"}
	for i, w := range want {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("etcdctl watch ended after %d lines", i)
			}
			if l != w {
				t.Fatalf("etcdctl watch line %d: %q, want %q", i, l, w)
			}
		case <-time.After(watchTimeout):
			t.Fatalf("etcdctl watch: no line %d (%q)", i, w)
		}
	}
}

// thousand: 1,000 watches on one client connection, half multiplexed on
// one stream and half on streams of their own, each get their event.
func (s watchSuite) thousand(t *testing.T) {
	const n = 1000
	p := "w/thousand/"
	cli := s.c.Client(t, s.c.Member(0).Endpoint())
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	chans := make([]clientv3.WatchChan, n)
	for i := range n {
		wctx := ctx
		if i%2 == 1 {
			wctx = ownStream(ctx, fmt.Sprint(i))
		}
		chans[i] = cli.Watch(wctx, fmt.Sprintf("%s%04d", p, i), clientv3.WithCreatedNotify())
	}
	for i := range n {
		created(t, chans[i])
	}
	revs := make([]int64, n)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				resp, err := s.cli.Put(s.ctx, fmt.Sprintf("%s%04d", p, i), "v")
				if err != nil {
					t.Errorf("put: %v", err)
					return
				}
				revs[i] = resp.Header.Revision
			}
		}()
	}
	wg.Wait()
	for i := range n {
		got := events(t, chans[i], 1)
		if got[0].key != fmt.Sprintf("%s%04d", p, i) || got[0].rev != revs[i] {
			t.Fatalf("watch %d: %v, want its key at %d", i, got, revs[i])
		}
	}
}

// onFollower: a watch served by a follower sees writes made through the
// leader.
func (s watchSuite) onFollower(t *testing.T) {
	f := s.c.Follower(t, s.cli)
	fcli := s.c.Client(t, s.c.Member(f).Endpoint())
	wch := fcli.Watch(s.ctx, "w/follower/k", clientv3.WithCreatedNotify())
	created(t, wch)
	rev := s.put(t, "w/follower/k", "v")
	wantEvents(t, "watch on a follower", events(t, wch, 1), fmt.Sprintf(`PUT w/follower/k="v"@%d`, rev))
}

// memberRestart: a client pinned to one member keeps its watch across that
// member's SIGKILL and restart: clientv3 resumes from the last revision it
// saw and gets everything written meanwhile, once, in order.
func (s watchSuite) memberRestart(t *testing.T) {
	p := "w/restart/"
	victim := s.c.Follower(t, s.cli)
	pinned := s.c.Client(t, s.c.Member(victim).Endpoint())
	others := []string{}
	for i, m := range s.c.Members() {
		if i != victim {
			others = append(others, m.Endpoint())
		}
	}
	writer := s.c.Client(t, others...)
	first := must[*clientv3.PutResponse](t, "put")(writer.Put(s.ctx, p+"k", "0")).Header.Revision
	wch := pinned.Watch(s.ctx, p, clientv3.WithPrefix(), clientv3.WithRev(first))
	events(t, wch, 1)
	s.c.Kill(t, victim)
	var last int64
	for i := 1; i <= 20; i++ {
		last = must[*clientv3.PutResponse](t, "put")(writer.Put(s.ctx, p+"k", fmt.Sprint(i))).Header.Revision
	}
	s.c.Restart(t, victim)
	last = must[*clientv3.PutResponse](t, "put")(writer.Put(s.ctx, p+"k", "21")).Header.Revision
	got := events(t, wch, 21)
	for i, e := range got {
		if e.val != fmt.Sprint(i+1) {
			t.Fatalf("after the restart: event %d is %s, want value %d (all %v)", i, e, i+1, got)
		}
	}
	if got[20].rev != last {
		t.Fatalf("last event at %d, want %d", got[20].rev, last)
	}
}

// stalledReader: a watch stream whose client stops reading while writers
// keep writing. The writes all succeed, the member marks the watcher slow
// (etcd_debugging_mvcc_slow_watcher_total) rather than buffering without
// bound, and once the client reads again every event arrives, in order.
func (s watchSuite) stalledReader(t *testing.T) {
	p := "w/stalled/"
	m := s.c.Member(0)
	pinned := s.c.Client(t, m.Endpoint())
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// etcd catches a slow watcher up in one message of every missed event.
	st := must[pb.Watch_WatchClient](t, "open stream")(pb.NewWatchClient(pinned.ActiveConnection()).Watch(ctx, grpc.MaxCallRecvMsgSize(math.MaxInt32)))
	first := s.put(t, p+"first", "x")
	err := st.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte(p), RangeEnd: []byte(clientv3.GetPrefixRangeEnd(p)), StartRevision: first + 1}}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if r := must[*pb.WatchResponse](t, "created")(st.Recv()); !r.Created {
		t.Fatalf("first response %v", r)
	}
	// Far more than any buffer between the member and the client holds.
	const writes, writers = 600, 8
	val := strings.Repeat("s", 100<<10)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < writes; i += writers {
				if _, err := s.cli.Put(s.ctx, fmt.Sprintf("%s%04d", p, i), val); err != nil {
					t.Errorf("put while a watcher is stalled: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if slow := metricValue(t, s.ctx, m.ClientURL, "etcd_debugging_mvcc_slow_watcher_total"); slow < 1 {
		t.Fatalf("slow watchers on the stalled stream's member: %v, want at least 1", slow)
	}
	last := int64(0)
	for n := 0; n < writes; {
		r := must[*pb.WatchResponse](t, "receive")(st.Recv())
		for _, e := range r.Events {
			if e.Kv.ModRevision <= last || len(e.Kv.Value) != len(val) {
				t.Fatalf("event %d: %s at %d after %d", n, e.Kv.Key, e.Kv.ModRevision, last)
			}
			last = e.Kv.ModRevision
			n++
		}
	}
}

// metricValue scrapes a member's /metrics and returns one unlabelled
// metric's value.
func metricValue(t *testing.T, ctx context.Context, baseURL, name string) float64 {
	t.Helper()
	req := must[*http.Request](t, "metrics request")(http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/metrics", nil))
	resp := must[*http.Response](t, "GET /metrics")(http.DefaultClient.Do(req))
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, sc.Text())
			}
			return v
		}
	}
	t.Fatalf("metric %s not exported at %s/metrics", name, baseURL)
	return 0
}

// requireLeader: a WithRequireLeader watch on a member that lost its
// quorum is ended with ErrNoLeader (after a few election timeouts), so the
// client can go elsewhere; a watch without it stays open.
func (s watchSuite) requireLeader(t *testing.T) {
	survivor := s.c.Follower(t, s.cli)
	pinned := s.c.Client(t, s.c.Member(survivor).Endpoint())
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	strict := pinned.Watch(clientv3.WithRequireLeader(ctx), "w/leader/k", clientv3.WithCreatedNotify())
	created(t, strict)
	lenient := pinned.Watch(ownStream(ctx, "lenient"), "w/leader/k", clientv3.WithCreatedNotify())
	created(t, lenient)
	var killed []int
	for i := range s.c.Members() {
		if i != survivor {
			s.c.Kill(t, i)
			killed = append(killed, i)
		}
	}
	defer func() {
		for _, i := range killed {
			s.c.Restart(t, i)
		}
		s.c.WaitLeader(t, s.cli)
	}()
	select {
	case r, ok := <-strict:
		if !ok {
			t.Fatalf("require-leader watch closed without an error")
		}
		wantErr(t, "require-leader watch without a quorum", r.Err(), rpctypes.ErrNoLeader)
	case <-time.After(30 * time.Second):
		t.Fatalf("require-leader watch still open 30s after the quorum was lost")
	}
	select {
	case r, ok := <-lenient:
		t.Fatalf("watch without require-leader got %+v (open %v)", r, ok)
	default:
	}
}
