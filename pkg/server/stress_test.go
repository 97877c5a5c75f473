package server

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/pkg/servertest"
	systemv1 "github.com/photoncloud/core/proto/photoncloud/system/v1"
	"github.com/photoncloud/core/proto/photoncloud/system/v1/systemv1connect"
)

// TestConcurrentCallsOverSharedConnections: many concurrent unary calls
// multiplexed over a few HTTP/2 connections (the shape of 64 etcd clients
// on 8 connections) all succeed with intact responses, through the worker
// pool and the coalescing writer.
func TestConcurrentCallsOverSharedConnections(t *testing.T) {
	ts := startServer(t, Config{NodeName: "stress-node"}, nil, nil)
	const conns, perConn = 4, 16
	var ok, failed atomic.Int64
	var lastErr atomic.Value
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for range conns {
		client := systemv1connect.NewSystemServiceClient(servertest.HTTP2Client(), ts.base, connect.WithGRPC())
		for range perConn {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					resp, err := client.GetInfo(context.Background(), connect.NewRequest(&systemv1.GetInfoRequest{}))
					if err == nil && resp.Msg.GetNodeName() != "stress-node" {
						err = connect.NewError(connect.CodeInternal, nil)
					}
					if err != nil {
						failed.Add(1)
						lastErr.Store(err.Error())
						continue
					}
					ok.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d calls failed; last: %v", failed.Load(), ok.Load()+failed.Load(), lastErr.Load())
	}
	t.Logf("%d calls", ok.Load())
}
