package downpeertest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/client"
	"github.com/photoncloud/core/flaredb/internal/ctl"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

const maxPeerDownTime = 3 * time.Second

func key(i int) []byte { return []byte(fmt.Sprintf("k%03d", i)) }

func value(i, round int) []byte { return []byte(fmt.Sprintf("v%03d-%d", i, round)) }

// TestStoreThatMissedSplitsGetsItsReplicasBack: store 3 is down while the
// first region splits several times (and a child splits again); the
// leaders compact their logs, so when store 3 comes back it catches the
// parent up from a snapshot taken after the splits and never creates the
// children. Their leaders report store 3's peers down; PD removes each and
// adds a new peer (store 3 is the only free store, so the new peer is there
// again, under a new id). Every region ends with three healthy replicas and
// every key, old and new, reads back through the client.
func TestStoreThatMissedSplitsGetsItsReplicasBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chainfire, PD and three stores")
	}
	ctx, c, cl := startReplicated(t, 4*time.Minute)
	const n = 400
	want := map[string][]byte{}
	put := func(from, to, round int) {
		t.Helper()
		var batch []client.KV
		for i := from; i < to; i++ {
			batch = append(batch, client.KV{Key: key(i), Value: value(i, round)})
			want[string(key(i))] = value(i, round)
		}
		if err := cl.BatchPut(ctx, batch); err != nil {
			t.Fatalf("put %d..%d: %v", from, to, err)
		}
	}
	put(0, n, 0)

	first := c.regions(ctx)[0].GetRegion()
	c.stop(3)
	var children []uint64
	for _, at := range []int{80, 160, 240, 320} { // the parent keeps the right part
		child, _ := c.split(string(key(at)))
		children = append(children, child.GetId())
	}
	grandchild, _ := c.split(string(key(40))) // splits the child [-inf, k080)
	children = append(children, grandchild.GetId())
	put(0, n, 1) // every region moves on without store 3
	c.compact()
	beforeRestart := len(c.regions(ctx))

	restarted := time.Now()
	c.start(c.node(3))
	st3 := c.liveStore(3)
	// The parent catches up from a snapshot of its shrunk range.
	caughtUp := waitFor(t, 30*time.Second, "store 3 installs the parent's snapshot", func() (bool, string) {
		p := st3.Peer(first.GetId())
		if p == nil || p.Region() == nil {
			return false, "no parent replica"
		}
		v := p.Region().GetEpoch().GetVersion()
		return v == first.GetEpoch().GetVersion()+4, fmt.Sprintf("parent epoch version %d", v)
	})
	var missing []uint64
	for _, id := range children {
		if st3.Peer(id) == nil {
			missing = append(missing, id)
		}
	}
	t.Logf("store 3 caught the parent up after %v; children it does not host: %v of %v", caughtUp.Round(time.Millisecond), missing, children)
	if caughtUp < maxPeerDownTime-time.Second && len(missing) != len(children) {
		t.Fatalf("store 3 hosts split children it cannot have seen: missing only %v of %v", missing, children)
	}

	// What an operator sees meanwhile: PD lists the unreachable peers.
	var shown string
	waitFor(t, 30*time.Second, "PD reports a down peer of a child", func() (bool, string) {
		for _, id := range missing {
			resp, err := c.pd.GetRegionByID(ctx, connect.NewRequest(&flaredbv1.GetRegionByIDRequest{RegionId: id}))
			if err != nil {
				return false, err.Error()
			}
			if len(resp.Msg.GetDownPeers()) > 0 {
				shown = flaredbctl(t, c.pdAddr, "region", "show", strconv.FormatUint(id, 10))
				return true, ""
			}
		}
		return false, "no down peers reported"
	})
	t.Logf("flaredbctl region show while under-replicated:\n%s", shown)

	repaired := waitFor(t, 2*time.Minute, "every region back to three healthy replicas", func() (bool, string) {
		return c.replicated(ctx, 3)
	})
	t.Logf("all %d regions fully replicated %v after store 3 restarted (%v after the parent caught up)",
		len(c.regions(ctx)), time.Since(restarted).Round(time.Millisecond), repaired.Round(time.Millisecond))
	if got := len(c.regions(ctx)); got != beforeRestart {
		t.Fatalf("%d regions after repair, %d before", got, beforeRestart)
	}
	for _, id := range missing {
		resp, err := c.pd.GetRegionByID(ctx, connect.NewRequest(&flaredbv1.GetRegionByIDRequest{RegionId: id}))
		if err != nil {
			t.Fatal(err)
		}
		if p := st3.Peer(id); p == nil || p.Region() == nil {
			t.Fatalf("store 3 has no initialised replica of region %d: %v", id, resp.Msg.GetRegion())
		}
	}

	// Every key through a fresh client, then from store 3's own copies.
	fresh, err := client.New([]string{c.pdAddr}, client.WithRetryBudget(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	keys := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		keys = append(keys, key(i))
	}
	got, err := fresh.BatchGet(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("read %d of %d keys", len(got), n)
	}
	for _, kv := range got {
		if !bytes.Equal(kv.Value, want[string(kv.Key)]) {
			t.Fatalf("%s = %q, want %q", kv.Key, kv.Value, want[string(kv.Key)])
		}
	}
	checkReplicaData(t, c, 3, want)

	// Store 3 received raft traffic for the regions it did not host all
	// along: it must not have logged about each message.
	lines, hbFails := c.raftLog.counts()
	logged := c.node(3).logs.n.Load()
	t.Logf("store 3 logged %d records (info and above) over both runs (last: %q); raft logged %d error lines (%d failed heartbeats) on all stores",
		logged, c.node(3).logs.lastLines(), lines, hbFails)
	if logged > 40 {
		t.Fatalf("store 3 logged %d records: %q", logged, c.node(3).logs.lastLines())
	}
}

// checkReplicaData reads every key from store id's own replicas (not
// through the leader), so the repaired peers hold the data, not just a
// place in the configuration.
func checkReplicaData(t *testing.T, c *cluster, id uint64, want map[string][]byte) {
	t.Helper()
	st := c.liveStore(id)
	deadline := time.Now().Add(30 * time.Second)
	for k, v := range want {
		for {
			var got []byte
			for _, p := range st.Peers() {
				if r := p.Region(); r != nil && contains(r, []byte(k)) {
					got, _, _ = p.LocalGet(context.Background(), []byte(k))
				}
			}
			if bytes.Equal(got, v) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("store %d replica: %s = %q, want %q", id, k, got, v)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// flaredbctl runs the CLI in-process and returns what it printed.
func flaredbctl(t *testing.T, pdAddr string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := ctl.Command(&out, &errOut, func(string) string { return "" })
	cmd.SetArgs(append([]string{"--pd", pdAddr}, args...))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("flaredbctl %v: %v (%s)", args, err, errOut.String())
	}
	return out.String()
}
