package apply_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/mvccpb"
)

// The differential test: random commands (txns with nested txns, puts,
// deletes, compactions) applied in random batches to the Applier and to a
// model written from etcd's rules, comparing every response, every error
// and the resulting store; random ranges and read-only txns are compared
// at random (also historical) revisions.

type mkv struct {
	value                string
	create, mod, version int64
}

type state map[string]mkv

type model struct {
	rev     int64
	compact int64
	hist    map[int64]state // the state as of each revision
}

func newModel() *model {
	return &model{rev: 1, compact: -1, hist: map[int64]state{1: {}}}
}

func (m *model) cur() state { return m.hist[m.rev] }

// keysIn selects the keys of s in [key, end) under etcd's range_end rules,
// in key order.
func keysIn(s state, key, end []byte) []string {
	var out []string
	for k := range s {
		kb := []byte(k)
		switch {
		case len(end) == 0:
			if !bytes.Equal(kb, key) {
				continue
			}
		case len(end) == 1 && end[0] == 0:
			if bytes.Compare(kb, key) < 0 {
				continue
			}
		default:
			if bytes.Compare(kb, key) < 0 || bytes.Compare(kb, end) >= 0 {
				continue
			}
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (kv mkv) proto(key string) *mvccpb.KeyValue {
	out := &mvccpb.KeyValue{Key: []byte(key), CreateRevision: kv.create, ModRevision: kv.mod, Version: kv.version}
	if kv.value != "" {
		out.Value = []byte(kv.value)
	}
	return out
}

// txnState is a txn in progress: the state before it, its writes so far.
type txnState struct {
	m       *model
	pre     int64 // revision before the txn
	work    state
	changed bool
}

func (ts *txnState) rev() int64 {
	if ts.changed {
		return ts.pre + 1
	}
	return ts.pre
}

// rangeAt is etcd's executeRange against the txn's view.
func (ts *txnState) rangeAt(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	cur := ts.rev()
	rev := r.GetRevision()
	if rev > cur {
		return nil, etcderr.FutureRev
	}
	s := ts.work
	if rev > 0 {
		if rev < ts.m.compact {
			return nil, etcderr.Compacted
		}
		if rev <= ts.pre {
			s = ts.m.hist[rev]
		}
	}
	keys := keysIn(s, r.GetKey(), r.GetRangeEnd())
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: cur}, Count: int64(len(keys))}
	if r.GetCountOnly() {
		return resp, nil
	}
	order, target := r.GetSortOrder(), r.GetSortTarget()
	filters := r.GetMinModRevision() != 0 || r.GetMaxModRevision() != 0 || r.GetMinCreateRevision() != 0 || r.GetMaxCreateRevision() != 0
	defaultOrder := order == pb.RangeRequest_NONE || (target == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND)
	if defaultOrder && !filters && r.GetLimit() > 0 && int64(len(keys)) > r.GetLimit()+1 {
		keys = keys[:r.GetLimit()+1]
	}
	kvs := make([]*mvccpb.KeyValue, 0, len(keys))
	for _, k := range keys {
		kv := s[k].proto(k)
		if (r.GetMinModRevision() != 0 && kv.ModRevision < r.GetMinModRevision()) ||
			(r.GetMaxModRevision() != 0 && kv.ModRevision > r.GetMaxModRevision()) ||
			(r.GetMinCreateRevision() != 0 && kv.CreateRevision < r.GetMinCreateRevision()) ||
			(r.GetMaxCreateRevision() != 0 && kv.CreateRevision > r.GetMaxCreateRevision()) {
			continue
		}
		kvs = append(kvs, kv)
	}
	// at most 10 keys: etcd's sort.Sort is an insertion sort, i.e. stable
	kvs = expectSorted(kvs, target, order)
	if r.GetLimit() > 0 && int64(len(kvs)) > r.GetLimit() {
		kvs = kvs[:r.GetLimit()]
		resp.More = true
	}
	if r.GetKeysOnly() {
		for _, kv := range kvs {
			kv.Value = nil
		}
	}
	resp.Kvs = kvs
	return resp, nil
}

func (ts *txnState) put(r *pb.PutRequest) *pb.PutResponse {
	k := string(r.GetKey())
	prev, existed := ts.work[k]
	next := mkv{value: string(r.GetValue()), create: ts.pre + 1, mod: ts.pre + 1, version: 1}
	if existed {
		next.create, next.version = prev.create, prev.version+1
	}
	if r.GetIgnoreValue() {
		next.value = prev.value
	}
	ts.work[k] = next
	ts.changed = true
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: ts.pre + 1}}
	if r.GetPrevKv() && existed {
		resp.PrevKv = prev.proto(k)
	}
	return resp
}

func (ts *txnState) del(r *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	keys := keysIn(ts.work, r.GetKey(), r.GetRangeEnd())
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}, Deleted: int64(len(keys))}
	if r.GetPrevKv() {
		resp.PrevKvs = make([]*mvccpb.KeyValue, 0)
	}
	for _, k := range keys {
		if r.GetPrevKv() {
			resp.PrevKvs = append(resp.PrevKvs, ts.work[k].proto(k))
		}
		delete(ts.work, k)
		ts.changed = true
	}
	resp.Header.Revision = ts.rev()
	return resp
}

func (ts *txnState) compare(c *pb.Compare) bool {
	s := ts.m.hist[ts.pre]
	keys := keysIn(s, c.GetKey(), c.GetRangeEnd())
	one := func(kv mkv) bool {
		var r int
		switch c.GetTarget() {
		case pb.Compare_VERSION:
			r = cmp.Compare(kv.version, c.GetVersion())
		case pb.Compare_CREATE:
			r = cmp.Compare(kv.create, c.GetCreateRevision())
		case pb.Compare_MOD:
			r = cmp.Compare(kv.mod, c.GetModRevision())
		case pb.Compare_VALUE:
			r = bytes.Compare([]byte(kv.value), c.GetValue())
		case pb.Compare_LEASE:
			r = cmp.Compare(0, c.GetLease())
		}
		switch c.GetResult() {
		case pb.Compare_EQUAL:
			return r == 0
		case pb.Compare_NOT_EQUAL:
			return r != 0
		case pb.Compare_GREATER:
			return r > 0
		case pb.Compare_LESS:
			return r < 0
		}
		return true
	}
	if len(keys) == 0 {
		return c.GetTarget() != pb.Compare_VALUE && one(mkv{})
	}
	for _, k := range keys {
		if !one(s[k]) {
			return false
		}
	}
	return true
}

func (ts *txnState) chosen(t *pb.TxnRequest) (bool, []*pb.RequestOp) {
	for _, c := range t.GetCompare() {
		if !ts.compare(c) {
			return false, t.GetFailure()
		}
	}
	return true, t.GetSuccess()
}

// check is etcd's checkTxn, on the state before the txn.
func (ts *txnState) check(t *pb.TxnRequest) error {
	_, ops := ts.chosen(t)
	for _, op := range ops {
		switch {
		case op.GetRequestRange() != nil:
			rev := op.GetRequestRange().GetRevision()
			switch {
			case rev == 0:
			case rev > ts.pre:
				return etcderr.FutureRev
			case rev < ts.m.compact:
				return etcderr.Compacted
			}
		case op.GetRequestPut() != nil:
			p := op.GetRequestPut()
			if p.GetLease() != 0 {
				return etcderr.LeaseNotFound
			}
			if _, ok := ts.m.hist[ts.pre][string(p.GetKey())]; (p.GetIgnoreValue() || p.GetIgnoreLease()) && !ok {
				return etcderr.KeyNotFound
			}
		case op.GetRequestTxn() != nil:
			if err := ts.check(op.GetRequestTxn()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (ts *txnState) exec(t *pb.TxnRequest) *pb.TxnResponse {
	ok, ops := ts.chosen(t)
	resp := &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: ok}
	for _, op := range ops {
		out := &pb.ResponseOp{}
		switch {
		case op.GetRequestRange() != nil:
			r, err := ts.rangeAt(op.GetRequestRange())
			if err != nil {
				panic(fmt.Sprintf("model: range failed after check: %v", err))
			}
			out.Response = &pb.ResponseOp_ResponseRange{ResponseRange: r}
		case op.GetRequestPut() != nil:
			out.Response = &pb.ResponseOp_ResponsePut{ResponsePut: ts.put(op.GetRequestPut())}
		case op.GetRequestDeleteRange() != nil:
			out.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: ts.del(op.GetRequestDeleteRange())}
		case op.GetRequestTxn() != nil:
			out.Response = &pb.ResponseOp_ResponseTxn{ResponseTxn: ts.exec(op.GetRequestTxn())}
		}
		resp.Responses = append(resp.Responses, out)
	}
	return resp
}

func (m *model) begin() *txnState {
	return &txnState{m: m, pre: m.rev, work: maps.Clone(m.cur())}
}

func (m *model) commit(ts *txnState) {
	if ts.changed {
		m.rev++
		m.hist[m.rev] = ts.work
	}
}

// apply is what applying cmd does to the model and answers.
func (m *model) apply(cmd *chainfirev1.RaftCommand) (proto.Message, error) {
	ts := m.begin()
	switch c := cmd.GetCommand().(type) {
	case *chainfirev1.RaftCommand_Put:
		t := &pb.TxnRequest{Success: []*pb.RequestOp{opPutReq(c.Put)}}
		if err := ts.check(t); err != nil {
			return nil, err
		}
		resp := ts.put(c.Put)
		m.commit(ts)
		return resp, nil
	case *chainfirev1.RaftCommand_DeleteRange:
		resp := ts.del(c.DeleteRange)
		m.commit(ts)
		return resp, nil
	case *chainfirev1.RaftCommand_Txn:
		if err := ts.check(c.Txn); err != nil {
			return nil, err
		}
		resp := ts.exec(c.Txn)
		resp.Header.Revision = ts.rev()
		m.commit(ts)
		return resp, nil
	case *chainfirev1.RaftCommand_Compaction:
		rev := c.Compaction.GetRevision()
		switch {
		case rev <= m.compact:
			return nil, etcderr.Compacted
		case rev > m.rev:
			return nil, etcderr.FutureRev
		}
		m.compact = rev
		return &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: m.rev}}, nil
	}
	panic("model: unknown command")
}

// gen makes random commands over a small key space.
type gen struct {
	r    *rand.Rand
	m    *model
	keys []string // k0..k9
}

func (g *gen) anyKey() string {
	switch g.r.IntN(10) {
	case 0:
		return "k"
	case 1:
		return "k" + fmt.Sprint(g.r.IntN(10)) + "x" // between keys
	case 2:
		return "z"
	}
	return g.keys[g.r.IntN(len(g.keys))]
}

// anyRange is a key and range_end under any of etcd's rules.
func (g *gen) anyRange() (string, string) {
	k := g.anyKey()
	switch g.r.IntN(6) {
	case 0, 1:
		return k, ""
	case 2:
		return k, "\x00"
	case 3:
		if g.r.IntN(4) == 0 {
			return "\x00", "\x00"
		}
		return k, string(append([]byte(k[:len(k)-1]), k[len(k)-1]+1)) // prefix end
	}
	return k, g.anyKey() // possibly before k: empty
}

func (g *gen) anyRev() int64 {
	switch g.r.IntN(8) {
	case 0:
		return g.r.Int64N(g.m.rev+3) - 1 // -1 .. rev+1
	case 1:
		return -2
	}
	return 0
}

func (g *gen) rangeReq() *pb.RangeRequest {
	k, end := g.anyRange()
	r := &pb.RangeRequest{Key: []byte(k), RangeEnd: bs(end), Revision: g.anyRev()}
	if g.r.IntN(2) == 0 {
		r.Limit = g.r.Int64N(5)
	}
	if g.r.IntN(2) == 0 {
		r.SortTarget = pb.RangeRequest_SortTarget(g.r.IntN(5))
		r.SortOrder = pb.RangeRequest_SortOrder(g.r.IntN(3))
	}
	r.KeysOnly = g.r.IntN(5) == 0
	r.CountOnly = g.r.IntN(10) == 0
	if g.r.IntN(5) == 0 {
		lim := g.m.rev + 1
		r.MinModRevision, r.MaxModRevision = g.r.Int64N(lim), g.r.Int64N(lim)
		r.MinCreateRevision, r.MaxCreateRevision = g.r.Int64N(lim), g.r.Int64N(lim)
	}
	return r
}

func (g *gen) compare() *pb.Compare {
	c := &pb.Compare{Key: []byte(g.anyKey()), Target: pb.Compare_CompareTarget(g.r.IntN(5)), Result: pb.Compare_CompareResult(g.r.IntN(4))}
	if g.r.IntN(4) == 0 {
		k, end := g.anyRange()
		c.Key, c.RangeEnd = []byte(k), bs(end)
	}
	n := g.r.Int64N(g.m.rev + 2)
	switch c.Target {
	case pb.Compare_VERSION:
		c.TargetUnion = &pb.Compare_Version{Version: g.r.Int64N(4)}
	case pb.Compare_CREATE:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: n}
	case pb.Compare_MOD:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: n}
	case pb.Compare_VALUE:
		c.TargetUnion = &pb.Compare_Value{Value: []byte(fmt.Sprintf("v%d", g.r.IntN(4)))}
	case pb.Compare_LEASE:
		c.TargetUnion = &pb.Compare_Lease{Lease: g.r.Int64N(3) - 1}
	}
	return c
}

// segments cuts keys into consecutive runs; every write op of a txn gets
// its own run, so no key is written twice (etcd rejects such txns).
func (g *gen) segments(keys []string) [][]string {
	var out [][]string
	for len(keys) > 0 {
		n := 1 + g.r.IntN(min(3, len(keys)))
		out = append(out, keys[:n])
		keys = keys[n:]
	}
	g.r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (g *gen) put(seg []string) *pb.PutRequest {
	p := &pb.PutRequest{Key: []byte(seg[g.r.IntN(len(seg))]), Value: []byte(fmt.Sprintf("v%d", g.r.IntN(4))), PrevKv: g.r.IntN(2) == 0}
	switch g.r.IntN(12) {
	case 0:
		p.IgnoreValue, p.Value = true, nil
	case 1:
		p.IgnoreLease = true
	case 2:
		p.Lease = 1 + g.r.Int64N(3)
	}
	return p
}

func (g *gen) del(seg []string) *pb.DeleteRangeRequest {
	i := g.r.IntN(len(seg))
	j := i + g.r.IntN(len(seg)-i)
	d := &pb.DeleteRangeRequest{Key: []byte(seg[i]), PrevKv: g.r.IntN(2) == 0}
	if j > i || g.r.IntN(2) == 0 {
		d.RangeEnd = []byte(seg[j] + "\x00")
	}
	return d
}

func (g *gen) ops(n int, segs [][]string, depth int) []*pb.RequestOp {
	var out []*pb.RequestOp
	for range n {
		choice := g.r.IntN(10)
		if len(segs) == 0 {
			choice = 0
		}
		switch {
		case choice < 3:
			out = append(out, opRange(g.rangeReq()))
		case choice < 6:
			out = append(out, opPutReq(g.put(segs[0])))
			segs = segs[1:]
		case choice < 8 || depth >= 2:
			out = append(out, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: g.del(segs[0])}})
			segs = segs[1:]
		default:
			out = append(out, opTxn(g.txn(segs[0], depth+1)))
			segs = segs[1:]
		}
	}
	return out
}

func (g *gen) txn(keys []string, depth int) *pb.TxnRequest {
	t := &pb.TxnRequest{}
	for range g.r.IntN(3) {
		t.Compare = append(t.Compare, g.compare())
	}
	// then and else may write the same keys: only one of them runs
	t.Success = g.ops(g.r.IntN(5), g.segments(keys), depth)
	t.Failure = g.ops(g.r.IntN(4), g.segments(keys), depth)
	return t
}

func (g *gen) command() *chainfirev1.RaftCommand {
	switch n := g.r.IntN(20); {
	case n < 11:
		return txnCmd(g.txn(g.keys, 0))
	case n < 16:
		return putCmd(g.put(g.keys))
	case n < 19:
		k, end := g.anyRange()
		return delCmd(&pb.DeleteRangeRequest{Key: []byte(k), RangeEnd: bs(end), PrevKv: g.r.IntN(2) == 0})
	}
	rev := g.m.compact + 1 + g.r.Int64N(3)
	if g.r.IntN(4) == 0 {
		rev = g.r.Int64N(g.m.rev+2) - 1
	}
	return compactCmd(rev)
}

func sameResult(t *testing.T, what string, got proto.Message, gotErr error, want proto.Message, wantErr error) {
	t.Helper()
	if wantErr != nil || gotErr != nil {
		if !errors.Is(gotErr, wantErr) {
			t.Fatalf("%s: error %v, model says %v", what, gotErr, wantErr)
		}
		return
	}
	if !proto.Equal(got, want) {
		t.Fatalf("%s:\ngot   %s\nmodel %s", what, prototext.Format(got), prototext.Format(want))
	}
}

func TestDifferentialModel(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = 2
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			h := newHarness(t)
			m := newModel()
			stats := map[string]int{}
			defer func() { t.Logf("revision %d, compacted %d, outcomes %v", m.rev, m.compact, stats) }()
			g := &gen{r: rand.New(rand.NewPCG(uint64(seed), 0x5eed)), m: m}
			for i := range 10 {
				g.keys = append(g.keys, fmt.Sprintf("k%d", i))
			}
			for step := range 120 {
				cmds := make([]*chainfirev1.RaftCommand, 1+g.r.IntN(4))
				for i := range cmds {
					cmds[i] = g.command()
				}
				results := h.batch(cmds...)
				for i, cmd := range cmds {
					want, wantErr := m.apply(cmd)
					stats[fmt.Sprintf("%T/%v", cmd.GetCommand(), wantErr)]++
					sameResult(t, fmt.Sprintf("step %d command %d %s", step, i, prototext.Format(cmd)), results[i].Response, results[i].Err, want, wantErr)
				}
				if h.store.Rev() != m.rev || h.store.CompactRev() != m.compact {
					t.Fatalf("step %d: store at %d compacted %d, model %d %d", step, h.store.Rev(), h.store.CompactRev(), m.rev, m.compact)
				}
				for range 3 {
					r := g.rangeReq()
					got, gotErr := h.get(r)
					want, wantErr := m.begin().rangeAt(r)
					// (a plain Range reads a negative revision as the latest,
					// which rangeAt does too: only a txn's check rejects it)
					sameResult(t, fmt.Sprintf("step %d range %s", step, prototext.Format(r)), got, gotErr, want, wantErr)
				}
				ro := &pb.TxnRequest{Compare: []*pb.Compare{g.compare()}, Success: g.ops(2, nil, 2), Failure: g.ops(2, nil, 2)}
				got, gotErr := h.readTxn(ro)
				ts := m.begin()
				var want proto.Message
				wantErr := ts.check(ro)
				if wantErr == nil {
					resp := ts.exec(ro)
					resp.Header.Revision = m.rev
					want = resp
				}
				sameResult(t, fmt.Sprintf("step %d read-only txn %s", step, prototext.Format(ro)), got, gotErr, want, wantErr)
			}
			if h.dump() != fmtKVs(m.begin().rangeAtMust(t)) {
				t.Fatalf("final state:\n%s\nmodel:\n%s", h.dump(), fmtKVs(m.begin().rangeAtMust(t)))
			}
		})
	}
}

func (ts *txnState) rangeAtMust(t *testing.T) []*mvccpb.KeyValue {
	resp, err := ts.rangeAt(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetKvs()
}
