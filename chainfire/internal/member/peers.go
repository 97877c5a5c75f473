package member

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	"github.com/photoncloud/core/proto/chainfire/v1/chainfirev1connect"
)

// peerClient calls another member's MemberService on its client URL.
type peerClient struct {
	member chainfirev1connect.MemberServiceClient
}

// peerClients caches one client per URL over one shared HTTP/2 transport.
type peerClients struct {
	transport *http.Transport
	http      *http.Client
	mu        sync.Mutex
	byURL     map[string]peerClient
}

func newPeerClients() *peerClients {
	tr := &http.Transport{
		Protocols:   new(http.Protocols),
		DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &peerClients{transport: tr, http: &http.Client{Transport: tr}, byURL: map[string]peerClient{}}
}

func (p *peerClients) get(url string) peerClient {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.byURL[url]
	if !ok {
		c = peerClient{member: chainfirev1connect.NewMemberServiceClient(p.http, strings.TrimSuffix(url, "/"), connect.WithGRPC())}
		p.byURL[url] = c
	}
	return c
}

func (p *peerClients) close() { p.transport.CloseIdleConnections() }

// leaderClient returns a client for the current leader, if it is known and
// has published its client URLs.
func (m *Member) leaderClient() (peerClient, bool) {
	id, ok := parseServerID(m.node.Leader())
	if !ok || id == m.id {
		return peerClient{}, false
	}
	attrs, ok := m.applier.Members().Get(id)
	if !ok || len(attrs.GetClientUrls()) == 0 {
		return peerClient{}, false
	}
	return m.peers.get(attrs.GetClientUrls()[0]), true
}

func isDialError(err *connect.Error) bool {
	var op *net.OpError
	return err.Code() == connect.CodeUnavailable && errors.As(err, &op) && op.Op == "dial"
}

// ReadBarrier returns once a read from the local store is linearizable:
// everything committed before the call is applied here.
func (m *Member) ReadBarrier(ctx context.Context) error {
	ctx, cancel := m.withRequestTimeout(ctx)
	defer cancel()
	backoff := 5 * time.Millisecond
	for {
		index, err := m.readIndex(ctx)
		if err == nil {
			if err := m.node.WaitApplied(ctx, index); err != nil {
				return m.timeoutError(ctx)
			}
			return nil
		}
		if !errors.Is(err, errRetry) {
			return err
		}
		select {
		case <-ctx.Done():
			return m.timeoutError(ctx)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

func (m *Member) readIndex(ctx context.Context) (uint64, error) {
	if m.node.IsLeader() {
		return m.LeaderReadIndex(ctx)
	}
	return m.reads.Do(ctx)
}

// askLeaderReadIndex asks the leader for a read index on behalf of every
// follower read waiting for one (see coalesce).
func (m *Member) askLeaderReadIndex(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	client, ok := m.leaderClient()
	if !ok {
		return 0, errRetry
	}
	resp, err := client.member.ReadIndex(ctx, connect.NewRequest(&chainfirev1.ReadIndexRequest{}))
	if err != nil {
		var cerr *connect.Error
		if errors.As(err, &cerr) && (cerr.Message() == etcderr.NotLeader.Msg || cerr.Code() == connect.CodeUnavailable) {
			return 0, errRetry // reads are safe to retry anywhere
		}
		return 0, err
	}
	return resp.Msg.GetIndex(), nil
}

// LeaderReadIndex is the leader's side of ReadIndex.
func (m *Member) LeaderReadIndex(ctx context.Context) (uint64, error) {
	index, err := m.node.ReadIndex(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return 0, m.timeoutError(ctx)
		}
		return 0, errRetry
	}
	return index, nil
}
