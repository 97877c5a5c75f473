package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestTxn covers transactions: every compare target and operator, compares
// over ranges, then/else branches with every kind of op (and their
// responses), and the request checks (duplicate keys, too many ops, empty
// keys).
func TestTxn(t *testing.T) {
	ctx := deadline(t, 90*time.Second)
	c := startCluster(t)
	for _, mode := range clientModes(t, c) {
		t.Run(mode.name, func(t *testing.T) {
			s := txnSuite{ctx: ctx, cli: mode.cli, p: "txn/" + mode.name + "/"}
			t.Run("Compares", s.compares)
			t.Run("CompareMissingKey", s.compareMissingKey)
			t.Run("CompareRange", s.compareRange)
			t.Run("ThenOps", s.thenOps)
			t.Run("ElseOps", s.elseOps)
			t.Run("DuplicateKey", s.duplicateKey)
			t.Run("TooManyOps", s.tooManyOps)
			t.Run("EmptyKey", s.emptyKey)
			t.Run("OpChecks", s.opChecks)
		})
	}
}

type txnSuite struct {
	ctx context.Context
	cli *clientv3.Client
	p   string
}

// check runs If(cmps...) with a marker op in each branch and fails the test
// unless the expected branch ran.
func (s txnSuite) check(t *testing.T, name string, want bool, cmps ...clientv3.Cmp) {
	t.Helper()
	resp, err := s.cli.Txn(s.ctx).If(cmps...).
		Then(clientv3.OpGet(s.p+"marker/then")).
		Else(clientv3.OpGet(s.p+"marker/else"), clientv3.OpGet(s.p+"marker/else")).
		Commit()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if resp.Succeeded != want {
		t.Fatalf("%s: succeeded %v, want %v", name, resp.Succeeded, want)
	}
	wantN := 1
	if !want {
		wantN = 2
	}
	if len(resp.Responses) != wantN {
		t.Fatalf("%s: %d responses, want the %d of the %v branch", name, len(resp.Responses), wantN, want)
	}
	for i, r := range resp.Responses {
		if r.GetResponseRange() == nil {
			t.Fatalf("%s: response %d is %T, want a range response", name, i, r.Response)
		}
	}
}

func (s txnSuite) compares(t *testing.T) {
	ctx, cli, k := s.ctx, s.cli, s.p+"cmp/k"
	l := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 600)).ID
	t.Cleanup(func() { _, _ = cli.Revoke(context.Background(), l) })
	create := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v1")).Header.Revision
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, s.p+"cmp/other", "o"))
	mod := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v2", clientv3.WithLease(l))).Header.Revision
	// k: value v2, version 2, create_revision create, mod_revision mod, lease l.
	lease := int64(l)

	type cmpCase struct {
		cmp  clientv3.Cmp
		want bool
	}
	cases := map[string][]cmpCase{
		"VERSION": {
			{clientv3.Compare(clientv3.Version(k), "=", 2), true},
			{clientv3.Compare(clientv3.Version(k), "=", 1), false},
			{clientv3.Compare(clientv3.Version(k), "!=", 1), true},
			{clientv3.Compare(clientv3.Version(k), "!=", 2), false},
			{clientv3.Compare(clientv3.Version(k), ">", 1), true},
			{clientv3.Compare(clientv3.Version(k), ">", 2), false},
			{clientv3.Compare(clientv3.Version(k), "<", 3), true},
			{clientv3.Compare(clientv3.Version(k), "<", 2), false},
		},
		"CREATE": {
			{clientv3.Compare(clientv3.CreateRevision(k), "=", create), true},
			{clientv3.Compare(clientv3.CreateRevision(k), "=", mod), false},
			{clientv3.Compare(clientv3.CreateRevision(k), "!=", mod), true},
			{clientv3.Compare(clientv3.CreateRevision(k), "!=", create), false},
			{clientv3.Compare(clientv3.CreateRevision(k), ">", create-1), true},
			{clientv3.Compare(clientv3.CreateRevision(k), ">", create), false},
			{clientv3.Compare(clientv3.CreateRevision(k), "<", create+1), true},
			{clientv3.Compare(clientv3.CreateRevision(k), "<", create), false},
		},
		"MOD": {
			{clientv3.Compare(clientv3.ModRevision(k), "=", mod), true},
			{clientv3.Compare(clientv3.ModRevision(k), "=", create), false},
			{clientv3.Compare(clientv3.ModRevision(k), "!=", create), true},
			{clientv3.Compare(clientv3.ModRevision(k), "!=", mod), false},
			{clientv3.Compare(clientv3.ModRevision(k), ">", create), true},
			{clientv3.Compare(clientv3.ModRevision(k), ">", mod), false},
			{clientv3.Compare(clientv3.ModRevision(k), "<", mod+1), true},
			{clientv3.Compare(clientv3.ModRevision(k), "<", mod), false},
		},
		"VALUE": {
			{clientv3.Compare(clientv3.Value(k), "=", "v2"), true},
			{clientv3.Compare(clientv3.Value(k), "=", "v1"), false},
			{clientv3.Compare(clientv3.Value(k), "!=", "v1"), true},
			{clientv3.Compare(clientv3.Value(k), "!=", "v2"), false},
			{clientv3.Compare(clientv3.Value(k), ">", "v1"), true},
			{clientv3.Compare(clientv3.Value(k), ">", "v2"), false},
			{clientv3.Compare(clientv3.Value(k), ">", "v"), true}, // a prefix sorts first
			{clientv3.Compare(clientv3.Value(k), "<", "v3"), true},
			{clientv3.Compare(clientv3.Value(k), "<", "v2"), false},
			{clientv3.Compare(clientv3.Value(k), "<", "v2\x00"), true},
		},
		"LEASE": {
			{clientv3.Compare(clientv3.LeaseValue(k), "=", lease), true},
			{clientv3.Compare(clientv3.LeaseValue(k), "=", 0), false},
			{clientv3.Compare(clientv3.LeaseValue(k), "!=", 0), true},
			{clientv3.Compare(clientv3.LeaseValue(k), "!=", lease), false},
			{clientv3.Compare(clientv3.LeaseValue(k), ">", 0), true},
			{clientv3.Compare(clientv3.LeaseValue(k), ">", lease), false},
			{clientv3.Compare(clientv3.LeaseValue(k), "<", lease+1), true},
			{clientv3.Compare(clientv3.LeaseValue(k), "<", lease), false},
		},
	}
	for target, cs := range cases {
		for i, tc := range cs {
			pb := tc.cmp.Clone()
			s.check(t, fmt.Sprintf("%s #%d (%v %v)", target, i, pb.GetCompare().Result, pb.GetCompare().TargetUnion), tc.want, tc.cmp)
		}
	}
	// Several compares must all hold; no compare at all succeeds.
	s.check(t, "all true", true, cases["VERSION"][0].cmp, cases["VALUE"][0].cmp, cases["MOD"][0].cmp)
	s.check(t, "one false", false, cases["VERSION"][0].cmp, cases["VALUE"][1].cmp, cases["MOD"][0].cmp)
	s.check(t, "no compares", true)
}

func (s txnSuite) compareMissingKey(t *testing.T) {
	k := s.p + "missing/k"
	// A missing key compares as a key-value with every field zero...
	s.check(t, "version = 0", true, clientv3.Compare(clientv3.Version(k), "=", 0))
	s.check(t, "create = 0", true, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
	s.check(t, "mod = 0", true, clientv3.Compare(clientv3.ModRevision(k), "=", 0))
	s.check(t, "lease = 0", true, clientv3.Compare(clientv3.LeaseValue(k), "=", 0))
	s.check(t, "version > 0", false, clientv3.Compare(clientv3.Version(k), ">", 0))
	// ...except that a VALUE compare on a missing key always fails, whatever
	// the operator.
	s.check(t, `value = ""`, false, clientv3.Compare(clientv3.Value(k), "=", ""))
	s.check(t, `value != "x"`, false, clientv3.Compare(clientv3.Value(k), "!=", "x"))
	s.check(t, `value < "x"`, false, clientv3.Compare(clientv3.Value(k), "<", "x"))
	// A deleted key is missing too.
	must[*clientv3.PutResponse](t, "put")(s.cli.Put(s.ctx, k, "v"))
	must[*clientv3.DeleteResponse](t, "delete")(s.cli.Delete(s.ctx, k))
	s.check(t, "deleted: version = 0", true, clientv3.Compare(clientv3.Version(k), "=", 0))
	s.check(t, `deleted: value != "x"`, false, clientv3.Compare(clientv3.Value(k), "!=", "x"))
}

func (s txnSuite) compareRange(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"rc/"
	// a: version 1, b: version 2, c: version 3; every value "x".
	for _, kv := range []string{"a", "b", "b", "c", "c", "c"} {
		must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+kv, "x"))
	}
	s.check(t, "prefix: every version > 0", true, clientv3.Compare(clientv3.Version(p), ">", 0).WithPrefix())
	s.check(t, "prefix: every version > 1", false, clientv3.Compare(clientv3.Version(p), ">", 1).WithPrefix())
	s.check(t, "range [a, c): every version < 3", true, clientv3.Compare(clientv3.Version(p+"a"), "<", 3).WithRange(p+"c"))
	s.check(t, "range [a, d): every version < 3", false, clientv3.Compare(clientv3.Version(p+"a"), "<", 3).WithRange(p+"d"))
	s.check(t, "range [b, d): every version > 1", true, clientv3.Compare(clientv3.Version(p+"b"), ">", 1).WithRange(p+"d"))
	s.check(t, `prefix: every value = "x"`, true, clientv3.Compare(clientv3.Value(p), "=", "x").WithPrefix())
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+"d", "y"))
	s.check(t, `prefix: every value = "x" after d="y"`, false, clientv3.Compare(clientv3.Value(p), "=", "x").WithPrefix())
	// An empty range compares as one zero key-value (VALUE always fails).
	s.check(t, "empty range: create = 0", true, clientv3.Compare(clientv3.CreateRevision(s.p+"rc-none/"), "=", 0).WithPrefix())
	s.check(t, "empty range: version > 0", false, clientv3.Compare(clientv3.Version(s.p+"rc-none/"), ">", 0).WithPrefix())
	s.check(t, `empty range: value != "x"`, false, clientv3.Compare(clientv3.Value(s.p+"rc-none/"), "!=", "x").WithPrefix())
}

func (s txnSuite) thenOps(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"then/"
	for _, kv := range [][2]string{{"k1", "a"}, {"k2", "old"}, {"del/x", "1"}, {"del/y", "2"}} {
		must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+kv[0], kv[1]))
	}
	before := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p+"k2")).Kvs[0]
	r0 := rev(t, ctx, cli)

	resp := must[*clientv3.TxnResponse](t, "txn")(cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(p+"k1"), "=", "a")).
		Then(
			clientv3.OpGet(p+"k1"),
			clientv3.OpPut(p+"k2", "new", clientv3.WithPrevKV()),
			clientv3.OpDelete(p+"del/", clientv3.WithPrefix(), clientv3.WithPrevKV()),
			clientv3.OpGet(p+"k2"), // sees the put above
			// Nested compares are evaluated before any op runs: k2 is
			// still "old" for them...
			clientv3.OpTxn(
				[]clientv3.Cmp{clientv3.Compare(clientv3.Value(p+"k2"), "=", "old")},
				[]clientv3.Op{clientv3.OpPut(p+"nested", "n"), clientv3.OpGet(p+"del/", clientv3.WithPrefix(), clientv3.WithCountOnly())},
				[]clientv3.Op{clientv3.OpPut(p+"nested-else", "e")},
			),
			// ...so this one takes its else branch.
			clientv3.OpTxn(
				[]clientv3.Cmp{clientv3.Compare(clientv3.Value(p+"k2"), "=", "new")},
				[]clientv3.Op{clientv3.OpPut(p+"nested2", "n")},
				[]clientv3.Op{clientv3.OpPut(p+"nested2-else", "e"), clientv3.OpGet(p + "nested")},
			),
			clientv3.OpGet(p+"nested"),
		).
		Else(clientv3.OpPut(p+"else", "e")).
		Commit())
	tr := r0 + 1 // the one revision of the whole transaction
	if !resp.Succeeded || resp.Header.Revision != tr || len(resp.Responses) != 7 {
		t.Fatalf("txn: succeeded %v revision %d responses %d, want true %d 7", resp.Succeeded, resp.Header.Revision, len(resp.Responses), tr)
	}
	if h := resp.Header; h.ClusterId == 0 || h.MemberId == 0 || h.RaftTerm == 0 {
		t.Fatalf("txn header %v: cluster_id, member_id and raft_term must be set", h)
	}

	r := resp.Responses[0].GetResponseRange()
	if r == nil || r.Count != 1 || len(r.Kvs) != 1 {
		t.Fatalf("op 0 (get k1): %v", resp.Responses[0])
	}
	if string(r.Kvs[0].Value) != "a" {
		t.Fatalf("op 0 (get k1): value %q", r.Kvs[0].Value)
	}

	put := resp.Responses[1].GetResponsePut()
	if put == nil {
		t.Fatalf("op 1 (put k2): %v", resp.Responses[1])
	}
	wantKV(t, "op 1 (put k2) prev_kv", put.PrevKv, p+"k2", "old", before.CreateRevision, before.ModRevision, 1, 0)

	del := resp.Responses[2].GetResponseDeleteRange()
	if del == nil || del.Deleted != 2 {
		t.Fatalf("op 2 (delete del/): %v", resp.Responses[2])
	}
	wantKeys(t, "op 2 (delete del/) prev_kvs", del.PrevKvs, p+"del/x", p+"del/y")

	r = resp.Responses[3].GetResponseRange()
	if r == nil || len(r.Kvs) != 1 {
		t.Fatalf("op 3 (get k2): %v", resp.Responses[3])
	}
	wantKV(t, "op 3 (get k2 after the put in the same txn)", r.Kvs[0], p+"k2", "new", before.CreateRevision, tr, 2, 0)

	nested := resp.Responses[4].GetResponseTxn()
	if nested == nil || !nested.Succeeded || len(nested.Responses) != 2 {
		t.Fatalf("op 4 (nested txn): %v", resp.Responses[4])
	}
	if nested.Responses[0].GetResponsePut() == nil {
		t.Fatalf("op 4 (nested txn) response 0: %v", nested.Responses[0])
	}
	if cr := nested.Responses[1].GetResponseRange(); cr == nil || cr.Count != 0 || len(cr.Kvs) != 0 {
		t.Fatalf("op 4 (nested txn) response 1 (count of del/ after the delete): %v", nested.Responses[1])
	}

	nested = resp.Responses[5].GetResponseTxn()
	if nested == nil || nested.Succeeded || len(nested.Responses) != 2 {
		t.Fatalf("op 5 (nested txn comparing the new value): %v", resp.Responses[5])
	}
	if r := nested.Responses[1].GetResponseRange(); r == nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "n" {
		t.Fatalf("op 5 (nested txn) response 1 (get of the key the previous nested txn put): %v", nested.Responses[1])
	}

	r = resp.Responses[6].GetResponseRange()
	if r == nil || len(r.Kvs) != 1 {
		t.Fatalf("op 6 (get nested): %v", resp.Responses[6])
	}
	wantKV(t, "op 6 (get nested)", r.Kvs[0], p+"nested", "n", tr, tr, 1, 0)

	// The effects, read afterwards.
	get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p, clientv3.WithPrefix()))
	wantKeys(t, "after the txn", get.Kvs, p+"k1", p+"k2", p+"nested", p+"nested2-else")
	if get.Header.Revision != tr {
		t.Fatalf("after the txn: revision %d, want %d", get.Header.Revision, tr)
	}
}

func (s txnSuite) elseOps(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"else/"
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+"k", "a"))
	r0 := rev(t, ctx, cli)
	resp := must[*clientv3.TxnResponse](t, "txn")(cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(p+"k"), "=", "b")).
		Then(clientv3.OpPut(p+"then", "t")).
		Else(clientv3.OpPut(p+"k", "c", clientv3.WithPrevKV()), clientv3.OpGet(p+"k"),
			clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpGet(p+"k", clientv3.WithKeysOnly())}, nil)).
		Commit())
	if resp.Succeeded || resp.Header.Revision != r0+1 || len(resp.Responses) != 3 {
		t.Fatalf("txn: succeeded %v revision %d responses %d, want false %d 3", resp.Succeeded, resp.Header.Revision, len(resp.Responses), r0+1)
	}
	if pr := resp.Responses[0].GetResponsePut(); pr == nil || pr.PrevKv == nil || string(pr.PrevKv.Value) != "a" {
		t.Fatalf("else op 0 (put with prev_kv): %v", resp.Responses[0])
	}
	if rr := resp.Responses[1].GetResponseRange(); rr == nil || len(rr.Kvs) != 1 || string(rr.Kvs[0].Value) != "c" || rr.Kvs[0].ModRevision != r0+1 {
		t.Fatalf("else op 1 (get): %v", resp.Responses[1])
	}
	nt := resp.Responses[2].GetResponseTxn()
	if nt == nil || !nt.Succeeded || len(nt.Responses) != 1 {
		t.Fatalf("else op 2 (nested txn): %v", resp.Responses[2])
	}
	if rr := nt.Responses[0].GetResponseRange(); rr == nil || len(rr.Kvs) != 1 || len(rr.Kvs[0].Value) != 0 || rr.Kvs[0].Version != 2 {
		t.Fatalf("else op 2 (nested keys-only get): %v", nt.Responses[0])
	}
	get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p+"then"))
	if len(get.Kvs) != 0 {
		t.Fatalf("the then branch ran too: %v", get.Kvs)
	}
}

func (s txnSuite) duplicateKey(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"dup/"
	r0 := rev(t, ctx, cli)
	for name, ops := range map[string][]clientv3.Op{
		"put, put":              {clientv3.OpPut(p+"k", "1"), clientv3.OpPut(p+"k", "2")},
		"put, delete":           {clientv3.OpPut(p+"k", "1"), clientv3.OpDelete(p + "k")},
		"delete prefix, put":    {clientv3.OpDelete(p, clientv3.WithPrefix()), clientv3.OpPut(p+"k", "1")},
		"put, delete range":     {clientv3.OpPut(p+"b", "1"), clientv3.OpDelete(p+"a", clientv3.WithRange(p+"c"))},
		"put, nested put":       {clientv3.OpPut(p+"k", "1"), clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut(p+"k", "2")}, nil)},
		"nested puts":           {clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut(p+"k", "1")}, nil), clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut(p+"k", "2")}, nil)},
		"delete, nested put":    {clientv3.OpDelete(p + "k"), clientv3.OpTxn(nil, nil, []clientv3.Op{clientv3.OpPut(p+"k", "2")})},
		"nested put, delete":    {clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut(p+"k", "1")}, nil), clientv3.OpDelete(p + "k")},
		"in a nested txn alone": {clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut(p+"k", "1"), clientv3.OpPut(p+"k", "2")}, nil)},
	} {
		_, err := cli.Txn(ctx).Then(ops...).Commit()
		wantErr(t, "txn "+name, err, rpctypes.ErrDuplicateKey)
		// The check covers both branches whichever runs.
		_, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.Version(p+"never"), ">", 0)).Then(clientv3.OpGet(p)).Else(ops...).Commit()
		wantErr(t, "txn else "+name, err, rpctypes.ErrDuplicateKey)
	}
	wantRev(t, ctx, cli, "rejected transactions write nothing", r0)
	get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p, clientv3.WithPrefix()))
	if len(get.Kvs) != 0 {
		t.Fatalf("rejected transactions left keys: %q", keysOf(get.Kvs))
	}

	// Not duplicates: reads of a written key, two deletes of one key, the
	// same key in then and else, the same key in a nested txn's then and
	// else.
	for name, tx := range map[string]clientv3.Txn{
		"get, put, get":          cli.Txn(ctx).Then(clientv3.OpGet(p+"k"), clientv3.OpPut(p+"k", "1"), clientv3.OpGet(p+"k")),
		"delete, delete":         cli.Txn(ctx).Then(clientv3.OpDelete(p+"k"), clientv3.OpDelete(p, clientv3.WithPrefix())),
		"put in then and else":   cli.Txn(ctx).Then(clientv3.OpPut(p+"k", "2")).Else(clientv3.OpPut(p+"k", "3")),
		"nested then and else":   cli.Txn(ctx).Then(clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut(p+"k", "4")}, []clientv3.Op{clientv3.OpPut(p+"k", "5")})),
		"distinct keys, nesting": cli.Txn(ctx).Then(clientv3.OpPut(p+"a", "1"), clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut(p+"b", "2")}, nil)),
	} {
		if _, err := tx.Commit(); err != nil {
			t.Fatalf("txn %s: %v", name, err)
		}
	}
}

func (s txnSuite) tooManyOps(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"many/"
	ops := func(n int, mk func(i int) clientv3.Op) []clientv3.Op {
		out := make([]clientv3.Op, n)
		for i := range out {
			out[i] = mk(i)
		}
		return out
	}
	put := func(i int) clientv3.Op { return clientv3.OpPut(fmt.Sprintf("%s%04d", p, i), "v") }
	get := func(i int) clientv3.Op { return clientv3.OpGet(fmt.Sprintf("%s%04d", p, i)) }
	r0 := rev(t, ctx, cli)

	// 128 (the default --max-txn-ops) is allowed, in one revision.
	resp := must[*clientv3.TxnResponse](t, "128 puts")(cli.Txn(ctx).Then(ops(128, put)...).Commit())
	if len(resp.Responses) != 128 || resp.Header.Revision != r0+1 {
		t.Fatalf("128 puts: %d responses revision %d, want 128 %d", len(resp.Responses), resp.Header.Revision, r0+1)
	}
	cnt := must[*clientv3.GetResponse](t, "count")(cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly()))
	if cnt.Count != 128 {
		t.Fatalf("after 128 puts: %d keys", cnt.Count)
	}
	cmps := make([]clientv3.Cmp, 129)
	for i := range cmps {
		cmps[i] = clientv3.Compare(clientv3.Version(p+"0000"), "=", 1)
	}
	must[*clientv3.TxnResponse](t, "128 compares, 128 gets each branch")(cli.Txn(ctx).If(cmps[:128]...).Then(ops(128, get)...).Else(ops(128, get)...).Commit())

	_, err := cli.Txn(ctx).Then(ops(129, put)...).Commit()
	wantErr(t, "129 puts", err, rpctypes.ErrTooManyOps)
	_, err = cli.Txn(ctx).Then(ops(129, get)...).Commit()
	wantErr(t, "129 gets", err, rpctypes.ErrTooManyOps)
	_, err = cli.Txn(ctx).Else(ops(129, get)...).Commit()
	wantErr(t, "129 else gets", err, rpctypes.ErrTooManyOps)
	_, err = cli.Txn(ctx).If(cmps...).Commit()
	wantErr(t, "129 compares", err, rpctypes.ErrTooManyOps)
	wantRev(t, ctx, cli, "rejected transactions write nothing", r0+1)
}

func (s txnSuite) emptyKey(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"empty/"
	r0 := rev(t, ctx, cli)
	for name, tx := range map[string]clientv3.Txn{
		"put":        cli.Txn(ctx).Then(clientv3.OpPut(p+"ok", "v"), clientv3.OpPut("", "v")),
		"get":        cli.Txn(ctx).Then(clientv3.OpGet("")),
		"delete":     cli.Txn(ctx).Then(clientv3.OpDelete("")),
		"else put":   cli.Txn(ctx).Else(clientv3.OpPut("", "v")),
		"compare":    cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(""), "=", "v")),
		"nested put": cli.Txn(ctx).Then(clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut("", "v")}, nil)),
	} {
		_, err := tx.Commit()
		wantErr(t, "txn with an empty key in "+name, err, rpctypes.ErrEmptyKey)
	}
	wantRev(t, ctx, cli, "rejected transactions write nothing", r0)
}

// opChecks: the checks a lone Put or Range gets also apply to the ops of the
// branch that runs.
func (s txnSuite) opChecks(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"opcheck/"
	r0 := rev(t, ctx, cli)
	_, err := cli.Txn(ctx).Then(clientv3.OpPut(p+"missing", "", clientv3.WithIgnoreValue())).Commit()
	wantErr(t, "txn put ignore_value on a missing key", err, rpctypes.ErrKeyNotFound)
	_, err = cli.Txn(ctx).Then(clientv3.OpPut(p+"k", "x", clientv3.WithIgnoreValue())).Commit()
	wantErr(t, "txn put ignore_value with a value", err, rpctypes.ErrValueProvided)
	_, err = cli.Txn(ctx).Then(clientv3.OpPut(p+"k", "v", clientv3.WithLease(clientv3.LeaseID(0x7eadbeef)))).Commit()
	wantErr(t, "txn put with an unknown lease", err, rpctypes.ErrLeaseNotFound)
	_, err = cli.Txn(ctx).Then(clientv3.OpGet(p+"k", clientv3.WithRev(r0+1000))).Commit()
	wantErr(t, "txn get at a future revision", err, rpctypes.ErrFutureRev)
	wantRev(t, ctx, cli, "rejected transactions write nothing", r0)
}
