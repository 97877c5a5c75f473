package kvservice

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/anishathalye/porcupine"

	"github.com/photoncloud/core/flaredb/internal/store"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// A register per key with get, put and compare-and-swap.
type regInput struct {
	key        string
	op         string // get, put, cas
	value      string
	prev       string
	prevAbsent bool
}

type regOutput struct {
	value   string // "" means absent
	ok      bool   // cas succeeded
	unknown bool   // the write's outcome is unknown
}

var registerModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(regInput).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() []any { return []any{""} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(string), input.(regInput), output.(regOutput)
		switch in.op {
		case "get":
			if out.value == s {
				return []any{s}
			}
			return nil
		case "put":
			if out.unknown {
				return []any{s, in.value}
			}
			return []any{in.value}
		default: // cas
			match := (in.prevAbsent && s == "") || (!in.prevAbsent && s != "" && s == in.prev)
			next := s
			if match {
				next = in.value
			}
			if out.unknown {
				return []any{s, next}
			}
			if out.ok != match {
				return nil
			}
			return []any{next}
		}
	},
	Equal: func(a, b any) bool { return a.(string) == b.(string) },
	DescribeOperation: func(in, out any) string {
		return fmt.Sprintf("%+v -> %+v", in, out)
	},
}

// TestLinearizableUnderLeaderKillAndSplit records a history of gets, puts
// and CASes on a few keys from concurrent clients while the leader is
// killed and restarted and the region is split, and checks it with
// porcupine. A write is never retried after an outcome-unknown error; it
// enters the history as "may or may not have happened".
func TestLinearizableUnderLeaderKillAndSplit(t *testing.T) {
	c := newCluster(t, 3, store.Config{}, true)
	keys := []string{"k1", "k5", "k9"}
	start := time.Now()
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		stop    atomic.Bool
		wg      sync.WaitGroup
		seq     atomic.Int64
	)
	for cl := 0; cl < 6; cl++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(cl), 7))
			for !stop.Load() {
				in := regInput{key: keys[rng.IntN(len(keys))]}
				switch r := rng.IntN(10); {
				case r < 4:
					in.op = "get"
				case r < 7:
					in.op, in.value = "put", fmt.Sprintf("v%d", seq.Add(1))
				default:
					in.op, in.value = "cas", fmt.Sprintf("v%d", seq.Add(1))
					in.prev = fmt.Sprintf("v%d", seq.Load()-int64(rng.IntN(4)))
					in.prevAbsent = rng.IntN(5) == 0
				}
				call := time.Since(start).Nanoseconds()
				out, err := c.linOp(in)
				if err != nil {
					continue // never reached the log (or a get that failed): not in the history
				}
				ret := time.Since(start).Nanoseconds()
				if out.unknown {
					ret = math.MaxInt64
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: cl, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	leader, r := c.leaderForWait(t, []byte("k5"))
	if _, err := leader.admin.SplitRegion(context.Background(), connect.NewRequest(&flaredbv1.SplitRegionRequest{RegionId: r.GetId(), SplitKey: []byte("k5")})); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	leader, _ = c.leaderForWait(t, []byte("k9"))
	c.stop(leader.id)
	time.Sleep(2 * time.Second)
	c.start(leader)
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()

	res, info := porcupine.CheckOperationsVerbose(registerModel.ToModel(), history, time.Minute)
	if res == porcupine.Illegal {
		_ = info
		t.Fatalf("history of %d operations is not linearizable", len(history))
	}
	t.Logf("%d operations, porcupine: %s", len(history), res)
}

// linOp runs one operation against the current leader of its key's
// region. Region errors (never applied) are retried; an RPC error on a
// write means the outcome is unknown.
func (c *cluster) linOp(in regInput) (regOutput, error) {
	k := []byte(in.key)
	for attempt := 0; attempt < 200; attempt++ {
		nd, r := c.leaderFor(k)
		if nd == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		c.mu.Lock()
		kv := nd.kv
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, re, err := doOp(ctx, kv, rctx(r), in)
		cancel()
		switch {
		case err != nil && in.op == "get":
			return regOutput{}, err
		case err != nil:
			return regOutput{unknown: true}, nil
		case re != nil:
			time.Sleep(10 * time.Millisecond)
			continue
		}
		return out, nil
	}
	return regOutput{}, fmt.Errorf("no leader for %q", in.key)
}

func doOp(ctx context.Context, kv *KV, rc *flaredbv1.Context, in regInput) (regOutput, *flaredbv1.RegionError, error) {
	k := []byte(in.key)
	switch in.op {
	case "get":
		resp, err := kv.Get(ctx, connect.NewRequest(&flaredbv1.GetRequest{Context: rc, Key: k}))
		if err != nil {
			return regOutput{}, nil, err
		}
		return regOutput{value: string(resp.Msg.GetValue())}, resp.Msg.GetRegionError(), nil
	case "put":
		resp, err := kv.Put(ctx, connect.NewRequest(&flaredbv1.PutRequest{Context: rc, Key: k, Value: []byte(in.value)}))
		if err != nil {
			return regOutput{}, nil, err
		}
		return regOutput{}, resp.Msg.GetRegionError(), nil
	default:
		req := &flaredbv1.CompareAndSwapRequest{Context: rc, Key: k, Value: []byte(in.value), PreviousNotExists: in.prevAbsent}
		if !in.prevAbsent {
			req.PreviousValue = []byte(in.prev)
		}
		resp, err := kv.CompareAndSwap(ctx, connect.NewRequest(req))
		if err != nil {
			return regOutput{}, nil, err
		}
		return regOutput{ok: resp.Msg.GetSucceeded()}, resp.Msg.GetRegionError(), nil
	}
}

// TestRegisterModelRejectsStaleRead keeps the model honest: a read that
// returns an overwritten value after the overwrite completed is illegal,
// and an unknown-outcome write may be seen or not.
func TestRegisterModelRejectsStaleRead(t *testing.T) {
	put := func(v string, call, ret int64, unknown bool) porcupine.Operation {
		return porcupine.Operation{Input: regInput{key: "k", op: "put", value: v}, Call: call, Return: ret, Output: regOutput{unknown: unknown}}
	}
	get := func(v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: regInput{key: "k", op: "get"}, Call: call, Return: ret, Output: regOutput{value: v}}
	}
	m := registerModel.ToModel()
	if porcupine.CheckOperations(m, []porcupine.Operation{put("a", 0, 1, false), put("b", 2, 3, false), get("a", 4, 5)}) {
		t.Fatal("stale read accepted")
	}
	if !porcupine.CheckOperations(m, []porcupine.Operation{put("a", 0, 1, false), put("b", 2, math.MaxInt64, true), get("a", 4, 5), get("b", 6, 7)}) {
		t.Fatal("unknown write seen late rejected")
	}
	if !porcupine.CheckOperations(m, []porcupine.Operation{put("a", 0, 1, false), put("b", 2, math.MaxInt64, true), get("a", 4, 5)}) {
		t.Fatal("unknown write never seen rejected")
	}
}
