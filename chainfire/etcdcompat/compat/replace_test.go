package compat

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// loadGen writes distinct keys from several clients and reads the count
// back linearizably, recording what was acknowledged and any read that
// went back in time.
type loadGen struct {
	cli    *clientv3.Client
	acked  sync.Map // key -> struct{}
	nAcked atomic.Int64
	errs   chan error
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startLoad(ctx context.Context, cli *clientv3.Client, writers int) *loadGen {
	g := &loadGen{cli: cli, errs: make(chan error, 16), stop: make(chan struct{})}
	for w := range writers {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-g.stop:
					return
				default:
				}
				key := fmt.Sprintf("load/w%d/%06d", w, seq)
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := cli.Put(wctx, key, strconv.Itoa(seq))
				cancel()
				if err == nil {
					g.acked.Store(key, struct{}{})
					g.nAcked.Add(1)
				} else {
					time.Sleep(20 * time.Millisecond) // an election or reconfiguration: try on
				}
			}
		}()
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		var lastRev, lastCount int64
		for {
			select {
			case <-g.stop:
				return
			default:
			}
			floor := g.nAcked.Load()
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := cli.Get(rctx, "load/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			cancel()
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			if resp.Header.Revision < lastRev || resp.Count < lastCount || resp.Count < floor {
				select {
				case g.errs <- fmt.Errorf("linearizable read went back: revision %d (before %d), count %d (before %d, %d acknowledged before the read)",
					resp.Header.Revision, lastRev, resp.Count, lastCount, floor):
				default:
				}
			}
			lastRev, lastCount = resp.Header.Revision, resp.Count
		}
	}()
	return g
}

// finish stops the load and checks every acknowledged write is there.
func (g *loadGen) finish(t *testing.T, ctx context.Context) {
	t.Helper()
	close(g.stop)
	g.wg.Wait()
	select {
	case err := <-g.errs:
		t.Fatal(err)
	default:
	}
	resp := must[*clientv3.GetResponse](t, "final read")(g.cli.Get(ctx, "load/", clientv3.WithPrefix(), clientv3.WithKeysOnly()))
	have := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		have[string(kv.Key)] = true
	}
	lost := 0
	g.acked.Range(func(k, _ any) bool {
		if !have[k.(string)] {
			lost++
		}
		return true
	})
	if lost > 0 || g.nAcked.Load() == 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, g.nAcked.Load())
	}
	t.Logf("load: %d acknowledged writes, all present", g.nAcked.Load())
}

// TestMemberReplaceUnderLoad grows a running cluster 3 -> 4 (a learner,
// then promoted), replaces the leader with a new member (the leader hands
// over before it is removed) and shrinks back to 3, while clients keep
// writing and reading linearizably: no acknowledged write is lost and no
// read goes back in time. PHOTONCLOUD_LONG=1 repeats the replacement.
func TestMemberReplaceUnderLoad(t *testing.T) {
	rounds := 1
	if os.Getenv("PHOTONCLOUD_LONG") == "1" {
		rounds = 3
	}
	ctx := deadline(t, time.Duration(rounds)*150*time.Second)
	c := startCluster(t)
	admin := c.Client(t)
	ctl := etcdctl{bin: cluster.EtcdctlBinary(t), eps: c.Endpoints()}
	lead := c.WaitLeader(t, admin)
	// The load goes through the members that stay; the leader is the one
	// replaced.
	var stay []string
	for i, m := range c.Members() {
		if i != lead {
			stay = append(stay, m.Endpoint())
		}
	}
	load := startLoad(ctx, c.Client(t, stay...), 3)
	// Reconfigurations go through the members that stay too.
	ctl.eps = stay

	for round := range rounds {
		// 3 -> 4: a learner, promoted once it has caught up.
		learner := c.NewMember(t, fmt.Sprintf("l%d", round))
		lid, initial := memberAdd(t, ctx, ctl, learner, true)
		c.StartJoining(t, learner, initial)
		for {
			_, errOut, err := ctl.run(ctx, "", "member", "promote", strconv.FormatUint(lid, 16))
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("member promote: %v %s", err, errOut)
			}
			time.Sleep(200 * time.Millisecond)
		}
		c.WaitMemberReady(t, learner)

		// Replace the leader: remove it (it hands over first), add a voter.
		leadIdx := c.WaitLeader(t, admin)
		old := c.Member(leadIdx)
		st := must[*clientv3.StatusResponse](t, "leader status")(admin.Status(ctx, old.Endpoint()))
		removeLeader(t, ctx, ctl, st.Header.MemberId)
		c.Forget(t, old)
		admin.SetEndpoints(c.Endpoints()...)
		fresh := c.NewMember(t, fmt.Sprintf("r%d", round))
		_, initial = memberAdd(t, ctx, ctl, fresh, false)
		c.StartJoining(t, fresh, initial)
		c.WaitMemberReady(t, fresh)

		// Back to 3: remove the promoted learner.
		ctlReconfig(t, ctx, ctl, "member", "remove", strconv.FormatUint(lid, 16))
		c.Forget(t, learner)
		admin.SetEndpoints(c.Endpoints()...)
		if ms := ctlMembers(t, ctx, ctl); len(ms) != 3 {
			t.Fatalf("round %d: member list: %+v", round, ms)
		}
		if round+1 < rounds {
			// The next round replaces whoever leads then.
			load.cli.SetEndpoints(c.Endpoints()...)
			ctl.eps = c.Endpoints()
		}
	}
	time.Sleep(time.Second)
	load.finish(t, ctx)
}

// removeLeader removes the leader with etcdctl. etcd's leader, applying
// its own removal, may stop before it answers ("server stopped"); the
// removal counts once the remaining members no longer list it.
func removeLeader(t *testing.T, ctx context.Context, ctl etcdctl, id uint64) {
	t.Helper()
	hex := strconv.FormatUint(id, 16)
	for {
		out, errOut, err := ctl.run(ctx, "", "member", "remove", hex)
		if err == nil {
			if !strings.Contains(out, fmt.Sprintf("Member %16x removed", id)) {
				t.Fatalf("member remove %s: %s", hex, out)
			}
			return
		}
		if strings.Contains(errOut, "etcdserver: server stopped") || strings.Contains(errOut, "etcdserver: member not found") {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			gone := true
			for _, m := range ctlMembers(t, lctx, ctl) {
				gone = gone && m.ID != id
			}
			cancel()
			if gone {
				return
			}
		} else if !strings.Contains(errOut, "etcdserver: unhealthy cluster") && !strings.Contains(errOut, "leader changed") {
			t.Fatalf("member remove %s: %v\n%s", hex, err, errOut)
		}
		if ctx.Err() != nil {
			t.Fatalf("member remove %s: %v\n%s", hex, err, errOut)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
