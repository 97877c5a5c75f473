package etcdapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/app"
	"github.com/photoncloud/core/pkg/servertest"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// startMember runs a single-member Chainfire in-process and returns its
// KV and Watch clients over gRPC.
func startMember(tb testing.TB) (etcdserverpbconnect.KVClient, etcdserverpbconnect.WatchClient) {
	tb.Helper()
	addr, peer := servertest.FreeAddr(tb), "http://"+servertest.FreeAddr(tb)
	servertest.RunCommand(tb, app.Command("test", "test"), addr,
		"--listen-client-urls", "http://"+addr, "--advertise-client-urls", "http://"+addr,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default="+peer, "--data-dir", tb.TempDir(), "--log-level", "error")
	servertest.WaitReady(tb, addr)
	hc := servertest.HTTP2Client()
	return etcdserverpbconnect.NewKVClient(hc, "http://"+addr, connect.WithGRPC()),
		etcdserverpbconnect.NewWatchClient(hc, "http://"+addr, connect.WithGRPC())
}

type watchStream = connect.BidiStreamForClient[pb.WatchRequest, pb.WatchResponse]

func create(tb testing.TB, s *watchStream, c *pb.WatchCreateRequest) {
	tb.Helper()
	if err := s.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: c}}); err != nil {
		tb.Fatalf("send create: %v", err)
	}
}

func recv(tb testing.TB, s *watchStream) *pb.WatchResponse {
	tb.Helper()
	r, err := s.Receive()
	if err != nil {
		tb.Fatalf("receive: %v", err)
	}
	return r
}

// TestWatchHandler drives the Watch service over gRPC: creation with a
// client-chosen id, a refused duplicate, historical and live events with
// prev_kv, a progress request, cancel, and the header fields.
func TestWatchHandler(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a member")
	}
	kv, wc := startMember(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	put := func(k, v string) int64 {
		t.Helper()
		resp, err := kv.Put(ctx, connect.NewRequest(&pb.PutRequest{Key: []byte(k), Value: []byte(v)}))
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		return resp.Msg.GetHeader().GetRevision()
	}
	r1 := put("w/a", "1")
	r2 := put("w/a", "2")

	s := wc.Watch(ctx)
	defer func() { _ = s.CloseRequest() }()
	create(t, s, &pb.WatchCreateRequest{Key: []byte("w/"), RangeEnd: []byte("w0"), StartRevision: r1, PrevKv: true, WatchId: 42})
	if r := recv(t, s); !r.Created || r.WatchId != 42 || r.Header.GetRevision() != r2 || r.Header.GetMemberId() == 0 {
		t.Fatalf("created: %v", r)
	}
	var got []string
	for len(got) < 2 {
		r := recv(t, s)
		for _, ev := range r.Events {
			prev := ""
			if ev.PrevKv != nil {
				prev = string(ev.PrevKv.Value)
			}
			got = append(got, fmt.Sprintf("%s@%d(prev %q)", ev.Kv.Value, ev.Kv.ModRevision, prev))
		}
	}
	create(t, s, &pb.WatchCreateRequest{Key: []byte("x"), WatchId: 42})
	if r := recv(t, s); !r.Created || !r.Canceled || r.WatchId != -1 || r.CancelReason != "mvcc: duplicate watch ID provided on the WatchStream" {
		t.Fatalf("duplicate id: %v", r)
	}
	r3 := put("w/a", "3")
	r := recv(t, s)
	if len(r.Events) != 1 || r.Header.GetRevision() != r3 {
		t.Fatalf("live event: %v", r)
	}
	got = append(got, fmt.Sprintf("%s@%d(prev %q)", r.Events[0].Kv.Value, r.Events[0].Kv.ModRevision, r.Events[0].PrevKv.GetValue()))
	want := fmt.Sprintf(`[1@%d(prev "") 2@%d(prev "1") 3@%d(prev "2")]`, r1, r2, r3)
	if fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	if err := s.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, s); r.WatchId != -1 || r.Header.GetRevision() != r3 || len(r.Events) != 0 || r.Created || r.Canceled {
		t.Fatalf("progress: %v", r)
	}
	if err := s.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 42}}}); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, s); !r.Canceled || r.WatchId != 42 {
		t.Fatalf("cancel: %v", r)
	}
}

// BenchmarkWatchLatency measures put -> event delivered to a watcher over
// gRPC on a single in-process member, with 1,000 other watchers on the
// same stream (on other keys).
func BenchmarkWatchLatency(b *testing.B) {
	kv, wc := startMember(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := wc.Watch(ctx)
	for i := range 1000 {
		create(b, s, &pb.WatchCreateRequest{Key: []byte(fmt.Sprintf("other/%04d", i))})
		recv(b, s)
	}
	create(b, s, &pb.WatchCreateRequest{Key: []byte("bench")})
	recv(b, s)
	b.ResetTimer()
	for b.Loop() {
		if _, err := kv.Put(ctx, connect.NewRequest(&pb.PutRequest{Key: []byte("bench"), Value: []byte("v")})); err != nil {
			b.Fatal(err)
		}
		if r := recv(b, s); len(r.Events) != 1 {
			b.Fatalf("got %v", r)
		}
	}
}
