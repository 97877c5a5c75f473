package compat

import (
	"context"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// TestKV covers Put, Get (Range) and Delete with every option, through all
// members and through a single follower.
func TestKV(t *testing.T) {
	ctx := deadline(t, 90*time.Second)
	c := startCluster(t)
	for _, mode := range clientModes(t, c) {
		t.Run(mode.name, func(t *testing.T) {
			s := kvSuite{ctx: ctx, c: c, cli: mode.cli, p: "kv/" + mode.name + "/"}
			t.Run("PutRevisions", s.putRevisions)
			t.Run("PutPrevKV", s.putPrevKV)
			t.Run("PutIgnoreValue", s.putIgnoreValue)
			t.Run("PutIgnoreLease", s.putIgnoreLease)
			t.Run("GetPrefixRangeFromKey", s.getPrefixRangeFromKey)
			t.Run("GetLimit", s.getLimit)
			t.Run("GetHistorical", s.getHistorical)
			t.Run("GetSort", s.getSort)
			t.Run("GetKeysOnlyCountOnly", s.getKeysOnlyCountOnly)
			t.Run("GetRevisionFilters", s.getRevisionFilters)
			t.Run("GetSerializable", s.getSerializable)
			t.Run("Delete", s.delete)
			t.Run("EmptyKey", s.emptyKey)
			t.Run("RevisionSemantics", s.revisionSemantics)
		})
	}
}

type kvSuite struct {
	ctx context.Context
	c   *cluster.Cluster
	cli *clientv3.Client
	p   string // key prefix of this client mode
}

func (s kvSuite) putRevisions(t *testing.T) {
	ctx, cli, k := s.ctx, s.cli, s.p+"rev/k"
	r0 := rev(t, ctx, cli)

	put := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v1"))
	if put.Header.Revision != r0+1 {
		t.Fatalf("first put: header revision %d, want %d", put.Header.Revision, r0+1)
	}
	if put.PrevKv != nil {
		t.Fatalf("put without prev_kv returned prev_kv %v", put.PrevKv)
	}
	h := put.Header
	if h.ClusterId == 0 || h.MemberId == 0 || h.RaftTerm == 0 {
		t.Fatalf("put header %v: cluster_id, member_id and raft_term must be set", h)
	}

	get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, k))
	if get.Header.Revision != r0+1 || get.Count != 1 || get.More || len(get.Kvs) != 1 {
		t.Fatalf("get: header revision %d count %d more %v kvs %d, want %d 1 false 1", get.Header.Revision, get.Count, get.More, len(get.Kvs), r0+1)
	}
	if get.Header.ClusterId != h.ClusterId {
		t.Fatalf("get: cluster_id %x, put said %x", get.Header.ClusterId, h.ClusterId)
	}
	wantKV(t, "after first put", get.Kvs[0], k, "v1", r0+1, r0+1, 1, 0)

	put = must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v2"))
	if put.Header.Revision != r0+2 {
		t.Fatalf("second put: header revision %d, want %d", put.Header.Revision, r0+2)
	}
	get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, k))
	wantKV(t, "after second put", get.Kvs[0], k, "v2", r0+1, r0+2, 2, 0)

	// Putting the same value again is still a write: a new revision and version.
	put = must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v2"))
	if put.Header.Revision != r0+3 {
		t.Fatalf("same-value put: header revision %d, want %d", put.Header.Revision, r0+3)
	}
	get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, k))
	wantKV(t, "after same-value put", get.Kvs[0], k, "v2", r0+1, r0+3, 3, 0)

	// A missing key: no kvs, count 0, header at the current revision.
	get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, s.p+"rev/missing"))
	if len(get.Kvs) != 0 || get.Count != 0 || get.More || get.Header.Revision != r0+3 {
		t.Fatalf("get of a missing key: %v", get)
	}

	// Binary keys and values round-trip byte for byte.
	bk, bv := s.p+"rev/bin\x00\xff\x01", "\x00\xfe\xff value"
	must[*clientv3.PutResponse](t, "binary put")(cli.Put(ctx, bk, bv))
	get = must[*clientv3.GetResponse](t, "binary get")(cli.Get(ctx, bk))
	wantKV(t, "binary key", get.Kvs[0], bk, bv, r0+4, r0+4, 1, 0)
}

func (s kvSuite) putPrevKV(t *testing.T) {
	ctx, cli, k := s.ctx, s.cli, s.p+"prevkv/k"
	put := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v1", clientv3.WithPrevKV()))
	if put.PrevKv != nil {
		t.Fatalf("prev_kv of a new key: %v, want none", put.PrevKv)
	}
	r1 := put.Header.Revision
	put = must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v2", clientv3.WithPrevKV()))
	wantKV(t, "prev_kv", put.PrevKv, k, "v1", r1, r1, 1, 0)
	if put.Header.Revision != r1+1 {
		t.Fatalf("header revision %d, want %d", put.Header.Revision, r1+1)
	}
}

func (s kvSuite) grant(t *testing.T) clientv3.LeaseID {
	t.Helper()
	l := must[*clientv3.LeaseGrantResponse](t, "lease grant")(s.cli.Grant(s.ctx, 600))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = s.cli.Revoke(ctx, l.ID)
	})
	return l.ID
}

func (s kvSuite) putIgnoreValue(t *testing.T) {
	ctx, cli, k := s.ctx, s.cli, s.p+"ignval/k"
	lease := s.grant(t)
	r1 := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v1")).Header.Revision

	// ignore_value keeps the value and changes the rest (here the lease).
	put := must[*clientv3.PutResponse](t, "put ignore_value")(cli.Put(ctx, k, "", clientv3.WithIgnoreValue(), clientv3.WithLease(lease), clientv3.WithPrevKV()))
	if put.Header.Revision != r1+1 {
		t.Fatalf("ignore_value put: header revision %d, want %d", put.Header.Revision, r1+1)
	}
	wantKV(t, "ignore_value prev_kv", put.PrevKv, k, "v1", r1, r1, 1, 0)
	get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, k))
	wantKV(t, "after ignore_value", get.Kvs[0], k, "v1", r1, r1+1, 2, int64(lease))

	_, err := cli.Put(ctx, k, "x", clientv3.WithIgnoreValue())
	wantErr(t, "ignore_value with a value", err, rpctypes.ErrValueProvided)
	_, err = cli.Put(ctx, s.p+"ignval/missing", "", clientv3.WithIgnoreValue())
	wantErr(t, "ignore_value on a missing key", err, rpctypes.ErrKeyNotFound)
	wantRev(t, ctx, cli, "rejected puts do not write", r1+1)
}

func (s kvSuite) putIgnoreLease(t *testing.T) {
	ctx, cli, k := s.ctx, s.cli, s.p+"ignlease/k"
	lease := s.grant(t)
	r1 := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v1", clientv3.WithLease(lease))).Header.Revision

	// ignore_lease keeps the lease and changes the value.
	must[*clientv3.PutResponse](t, "put ignore_lease")(cli.Put(ctx, k, "v2", clientv3.WithIgnoreLease()))
	get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, k))
	wantKV(t, "after ignore_lease", get.Kvs[0], k, "v2", r1, r1+1, 2, int64(lease))

	_, err := cli.Put(ctx, k, "v3", clientv3.WithIgnoreLease(), clientv3.WithLease(lease))
	wantErr(t, "ignore_lease with a lease", err, rpctypes.ErrLeaseProvided)
	_, err = cli.Put(ctx, s.p+"ignlease/missing", "v", clientv3.WithIgnoreLease())
	wantErr(t, "ignore_lease on a missing key", err, rpctypes.ErrKeyNotFound)
	_, err = cli.Put(ctx, k, "v3", clientv3.WithLease(clientv3.LeaseID(0x7eadbeef)))
	wantErr(t, "put with an unknown lease", err, rpctypes.ErrLeaseNotFound)
	wantRev(t, ctx, cli, "rejected puts do not write", r1+1)

	// A plain put detaches the key from its lease.
	must[*clientv3.PutResponse](t, "plain put")(cli.Put(ctx, k, "v4"))
	get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, k))
	wantKV(t, "after plain put", get.Kvs[0], k, "v4", r1, r1+2, 3, 0)
}

func (s kvSuite) putAll(t *testing.T, kvs ...string) {
	t.Helper()
	for i := 0; i < len(kvs); i += 2 {
		if _, err := s.cli.Put(s.ctx, kvs[i], kvs[i+1]); err != nil {
			t.Fatalf("put %q: %v", kvs[i], err)
		}
	}
}

func (s kvSuite) getPrefixRangeFromKey(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"r"
	s.putAll(t, p+"/a", "1", p+"/b", "2", p+"/c", "3", p+"/d", "4", p+"0", "x", p+".", "y")

	get := must[*clientv3.GetResponse](t, "prefix")(cli.Get(ctx, p+"/", clientv3.WithPrefix()))
	wantKeys(t, "WithPrefix", get.Kvs, p+"/a", p+"/b", p+"/c", p+"/d")
	if get.Count != 4 || get.More {
		t.Fatalf("WithPrefix: count %d more %v, want 4 false", get.Count, get.More)
	}

	get = must[*clientv3.GetResponse](t, "range")(cli.Get(ctx, p+"/b", clientv3.WithRange(p+"/d")))
	wantKeys(t, "WithRange [b, d)", get.Kvs, p+"/b", p+"/c")
	if get.Count != 2 {
		t.Fatalf("WithRange: count %d, want 2", get.Count)
	}
	// An empty or inverted range holds nothing.
	get = must[*clientv3.GetResponse](t, "inverted range")(cli.Get(ctx, p+"/c", clientv3.WithRange(p+"/a")))
	wantKeys(t, "WithRange [c, a)", get.Kvs)

	// From-key: every key >= the key, to the end of the key space. Keys
	// under "\xfe" sort after everything the other tests write.
	fp := "\xfe" + s.p
	s.putAll(t, fp+"a", "1", fp+"b", "2", fp+"c", "3")
	t.Cleanup(func() { _, _ = cli.Delete(context.Background(), fp, clientv3.WithPrefix()) })
	get = must[*clientv3.GetResponse](t, "from key")(cli.Get(ctx, fp+"b", clientv3.WithFromKey()))
	wantKeys(t, "WithFromKey", get.Kvs, fp+"b", fp+"c")
	get = must[*clientv3.GetResponse](t, "from key")(cli.Get(ctx, fp+"b", clientv3.WithFromKey(), clientv3.WithLimit(1)))
	wantKeys(t, "WithFromKey limit 1", get.Kvs, fp+"b")
	if !get.More || get.Count != 2 {
		t.Fatalf("WithFromKey limit 1: more %v count %d, want true 2", get.More, get.Count)
	}

	// The whole key space: WithPrefix of "" and WithFromKey of "" (both
	// become key "\x00").
	for name, opt := range map[string]clientv3.OpOption{"WithPrefix": clientv3.WithPrefix(), "WithFromKey": clientv3.WithFromKey()} {
		get = must[*clientv3.GetResponse](t, "all keys")(cli.Get(ctx, "", opt))
		if get.Count != int64(len(get.Kvs)) || len(get.Kvs) < 9 {
			t.Fatalf(`Get("", %s): %d kvs, count %d; want every key`, name, len(get.Kvs), get.Count)
		}
		for i := 1; i < len(get.Kvs); i++ {
			if string(get.Kvs[i-1].Key) >= string(get.Kvs[i].Key) {
				t.Fatalf(`Get("", %s): keys out of order: %q then %q`, name, get.Kvs[i-1].Key, get.Kvs[i].Key)
			}
		}
		if last := string(get.Kvs[len(get.Kvs)-1].Key); last != fp+"c" {
			t.Fatalf(`Get("", %s): last key %q, want %q`, name, last, fp+"c")
		}
	}
}

func (s kvSuite) getLimit(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"limit/"
	s.putAll(t, p+"a", "1", p+"b", "2", p+"c", "3", p+"d", "4", p+"e", "5")
	for _, tc := range []struct {
		limit int64
		keys  []string
		more  bool
	}{
		{0, []string{"a", "b", "c", "d", "e"}, false},
		{1, []string{"a"}, true},
		{2, []string{"a", "b"}, true},
		{4, []string{"a", "b", "c", "d"}, true},
		{5, []string{"a", "b", "c", "d", "e"}, false},
		{10, []string{"a", "b", "c", "d", "e"}, false},
	} {
		get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithLimit(tc.limit)))
		var want []string
		for _, k := range tc.keys {
			want = append(want, p+k)
		}
		wantKeys(t, "limit", get.Kvs, want...)
		// count ignores the limit.
		if get.More != tc.more || get.Count != 5 {
			t.Fatalf("limit %d: more %v count %d, want %v 5", tc.limit, get.More, get.Count, tc.more)
		}
	}
	get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithLimit(2), clientv3.WithCountOnly()))
	if len(get.Kvs) != 0 || get.Count != 5 {
		t.Fatalf("limit with count_only: %d kvs count %d, want 0 5", len(get.Kvs), get.Count)
	}
}

func (s kvSuite) getHistorical(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"hist/"
	k := p + "k"
	r1 := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v1")).Header.Revision
	r2 := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+"other", "o")).Header.Revision
	r3 := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v2")).Header.Revision
	r4 := must[*clientv3.DeleteResponse](t, "delete")(cli.Delete(ctx, k)).Header.Revision
	r5 := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v3")).Header.Revision

	for _, tc := range []struct {
		rev                 int64
		value               string
		create, mod, ver    int64
		prefixCount         int64
		exists              bool
		prefixIncludesOther bool
	}{
		{r1 - 1, "", 0, 0, 0, 0, false, false},
		{r1, "v1", r1, r1, 1, 1, true, false},
		{r2, "v1", r1, r1, 1, 2, true, true},
		{r3, "v2", r1, r3, 2, 2, true, true},
		{r4, "", 0, 0, 0, 1, false, true},
		{r5, "v3", r5, r5, 1, 2, true, true},
	} {
		get := must[*clientv3.GetResponse](t, "historical get")(cli.Get(ctx, k, clientv3.WithRev(tc.rev)))
		// The header carries the current revision, not the one read.
		if get.Header.Revision != r5 {
			t.Fatalf("get at %d: header revision %d, want the current %d", tc.rev, get.Header.Revision, r5)
		}
		if !tc.exists {
			if len(get.Kvs) != 0 || get.Count != 0 {
				t.Fatalf("get at %d: %v, want no key", tc.rev, get.Kvs)
			}
		} else {
			if len(get.Kvs) != 1 {
				t.Fatalf("get at %d: %d kvs, want 1", tc.rev, len(get.Kvs))
			}
			wantKV(t, "historical get", get.Kvs[0], k, tc.value, tc.create, tc.mod, tc.ver, 0)
		}
		pg := must[*clientv3.GetResponse](t, "historical prefix get")(cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithRev(tc.rev)))
		if pg.Count != tc.prefixCount {
			t.Fatalf("prefix get at %d: count %d, want %d", tc.rev, pg.Count, tc.prefixCount)
		}
	}
	_, err := cli.Get(ctx, k, clientv3.WithRev(r5+1000))
	wantErr(t, "get at a future revision", err, rpctypes.ErrFutureRev)
}

// sortFixture writes four keys whose orders by key, create revision,
// version, mod revision and value all differ, and returns the ascending order
// of each target.
func (s kvSuite) sortFixture(t *testing.T, p string) map[clientv3.SortTarget][]string {
	t.Helper()
	s.putAll(t,
		p+"d", "3", p+"b", "1", p+"a", "4", p+"c", "2", // create order d b a c
		p+"c", "2", p+"c", "2", p+"a", "4", p+"a", "4", p+"a", "4", p+"d", "3", // versions a4 c3 d2 b1; mod order b c a d
	)
	return map[clientv3.SortTarget][]string{
		clientv3.SortByKey:            {p + "a", p + "b", p + "c", p + "d"},
		clientv3.SortByCreateRevision: {p + "d", p + "b", p + "a", p + "c"},
		clientv3.SortByVersion:        {p + "b", p + "d", p + "c", p + "a"},
		clientv3.SortByModRevision:    {p + "b", p + "c", p + "a", p + "d"},
		clientv3.SortByValue:          {p + "b", p + "c", p + "d", p + "a"},
	}
}

func reversed(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[len(in)-1-i] = s
	}
	return out
}

func (s kvSuite) getSort(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"sort/"
	asc := s.sortFixture(t, p)
	names := map[clientv3.SortTarget]string{
		clientv3.SortByKey: "KEY", clientv3.SortByCreateRevision: "CREATE", clientv3.SortByVersion: "VERSION",
		clientv3.SortByModRevision: "MOD", clientv3.SortByValue: "VALUE",
	}
	for target, up := range asc {
		for _, tc := range []struct {
			order clientv3.SortOrder
			name  string
			want  []string
		}{
			{clientv3.SortAscend, "ASCEND", up},
			{clientv3.SortDescend, "DESCEND", reversed(up)},
			// NONE sorts by key for target KEY, ascending by the target
			// otherwise.
			{clientv3.SortNone, "NONE", up},
		} {
			get := must[*clientv3.GetResponse](t, "sorted get")(cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithSort(target, tc.order)))
			wantKeys(t, "sort "+names[target]+" "+tc.name, get.Kvs, tc.want...)
			if get.Count != 4 || get.More {
				t.Fatalf("sort %s %s: count %d more %v", names[target], tc.name, get.Count, get.More)
			}
			// A limit applies after sorting...
			wantLimited := tc.want[:2]
			if tc.order == clientv3.SortNone && target != clientv3.SortByKey {
				// ...except with order NONE and a target other than KEY:
				// etcd then reads limit+1 keys in key order (a b c) and
				// sorts only those, ascending by the target.
				wantLimited = nil
				for _, k := range up {
					if k != p+"d" && len(wantLimited) < 2 {
						wantLimited = append(wantLimited, k)
					}
				}
			}
			get = must[*clientv3.GetResponse](t, "sorted get")(cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithSort(target, tc.order), clientv3.WithLimit(2)))
			wantKeys(t, "sort "+names[target]+" "+tc.name+" limit 2", get.Kvs, wantLimited...)
			if get.Count != 4 || !get.More {
				t.Fatalf("sort %s %s limit 2: count %d more %v, want 4 true", names[target], tc.name, get.Count, get.More)
			}
		}
	}
	// clientv3.WithFirst*/WithLast* are sort+limit shorthands.
	get := must[*clientv3.GetResponse](t, "first create")(cli.Get(ctx, p, clientv3.WithFirstCreate()...))
	wantKeys(t, "WithFirstCreate", get.Kvs, p+"d")
	get = must[*clientv3.GetResponse](t, "last rev")(cli.Get(ctx, p, clientv3.WithLastRev()...))
	wantKeys(t, "WithLastRev", get.Kvs, p+"d")
	get = must[*clientv3.GetResponse](t, "last key")(cli.Get(ctx, p, clientv3.WithLastKey()...))
	wantKeys(t, "WithLastKey", get.Kvs, p+"d")
}

func (s kvSuite) getKeysOnlyCountOnly(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"only/"
	asc := s.sortFixture(t, p)
	full := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p, clientv3.WithPrefix()))

	ko := must[*clientv3.GetResponse](t, "keys only")(cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly()))
	wantKeys(t, "keys_only", ko.Kvs, asc[clientv3.SortByKey]...)
	for i, kv := range ko.Kvs {
		f := full.Kvs[i]
		wantKV(t, "keys_only", kv, string(f.Key), "", f.CreateRevision, f.ModRevision, f.Version, f.Lease)
	}
	if ko.Count != 4 {
		t.Fatalf("keys_only: count %d, want 4", ko.Count)
	}
	// Sorting by value still works when values are not returned.
	ko = must[*clientv3.GetResponse](t, "keys only by value")(cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend)))
	wantKeys(t, "keys_only sorted by value", ko.Kvs, asc[clientv3.SortByValue]...)
	for _, kv := range ko.Kvs {
		if len(kv.Value) != 0 {
			t.Fatalf("keys_only sorted by value returned value %q", kv.Value)
		}
	}

	co := must[*clientv3.GetResponse](t, "count only")(cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly()))
	if len(co.Kvs) != 0 || co.Count != 4 || co.More {
		t.Fatalf("count_only: %d kvs count %d more %v, want 0 4 false", len(co.Kvs), co.Count, co.More)
	}
	if co.Header.Revision != full.Header.Revision {
		t.Fatalf("count_only: header revision %d, want %d", co.Header.Revision, full.Header.Revision)
	}
	co = must[*clientv3.GetResponse](t, "count only")(cli.Get(ctx, s.p+"only-none/", clientv3.WithPrefix(), clientv3.WithCountOnly()))
	if co.Count != 0 {
		t.Fatalf("count_only of an empty range: count %d", co.Count)
	}
}

func (s kvSuite) getRevisionFilters(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"filter/"
	s.sortFixture(t, p)
	full := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p, clientv3.WithPrefix()))
	by := map[string]struct{ create, mod int64 }{}
	for _, kv := range full.Kvs {
		by[string(kv.Key)] = struct{ create, mod int64 }{kv.CreateRevision, kv.ModRevision}
	}
	// Fixture: create order d b a c; mod order b c a d.
	a, b, c, d := by[p+"a"], by[p+"b"], by[p+"c"], by[p+"d"]
	for _, tc := range []struct {
		name string
		opts []clientv3.OpOption
		want []string
	}{
		{"min_mod=mod(a)", []clientv3.OpOption{clientv3.WithMinModRev(a.mod)}, []string{"a", "d"}},
		{"max_mod=mod(c)", []clientv3.OpOption{clientv3.WithMaxModRev(c.mod)}, []string{"b", "c"}},
		{"min_create=create(a)", []clientv3.OpOption{clientv3.WithMinCreateRev(a.create)}, []string{"a", "c"}},
		{"max_create=create(b)", []clientv3.OpOption{clientv3.WithMaxCreateRev(b.create)}, []string{"b", "d"}},
		{"min_mod=mod(c) max_mod=mod(a)", []clientv3.OpOption{clientv3.WithMinModRev(c.mod), clientv3.WithMaxModRev(a.mod)}, []string{"a", "c"}},
		{"min_create=create(b) max_mod=mod(c)", []clientv3.OpOption{clientv3.WithMinCreateRev(b.create), clientv3.WithMaxModRev(c.mod)}, []string{"b", "c"}},
		{"min_mod beyond every key", []clientv3.OpOption{clientv3.WithMinModRev(d.mod + 1)}, nil},
	} {
		opts := append([]clientv3.OpOption{clientv3.WithPrefix()}, tc.opts...)
		get := must[*clientv3.GetResponse](t, tc.name)(cli.Get(ctx, p, opts...))
		var want []string
		for _, k := range tc.want {
			want = append(want, p+k)
		}
		wantKeys(t, tc.name, get.Kvs, want...)
		// count is the size of the range before the filters.
		if get.Count != 4 || get.More {
			t.Fatalf("%s: count %d more %v, want 4 false", tc.name, get.Count, get.More)
		}
		if len(want) >= 2 {
			// The limit applies after filtering, and more reports filtered
			// keys left out.
			get = must[*clientv3.GetResponse](t, tc.name)(cli.Get(ctx, p, append(opts, clientv3.WithLimit(1))...))
			wantKeys(t, tc.name+" limit 1", get.Kvs, want[0])
			if !get.More || get.Count != 4 {
				t.Fatalf("%s limit 1: more %v count %d, want true 4", tc.name, get.More, get.Count)
			}
			get = must[*clientv3.GetResponse](t, tc.name)(cli.Get(ctx, p, append(opts, clientv3.WithLimit(int64(len(want))))...))
			if get.More {
				t.Fatalf("%s limit %d: more is true with every filtered key returned", tc.name, len(want))
			}
		}
	}
}

func (s kvSuite) getSerializable(t *testing.T) {
	ctx, cli, k := s.ctx, s.cli, s.p+"serial/k"
	put := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v1"))
	lin := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, k))
	// A serializable read on each member is served locally: it may lag, but
	// it converges on the committed write.
	for _, m := range s.c.Members() {
		one := s.c.Client(t, m.Endpoint())
		var got *clientv3.GetResponse
		for start := time.Now(); ; {
			got = must[*clientv3.GetResponse](t, "serializable get")(one.Get(ctx, k, clientv3.WithSerializable()))
			if len(got.Kvs) == 1 && got.Kvs[0].ModRevision == put.Header.Revision {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("serializable get on %s never saw revision %d: %v", m.Name, put.Header.Revision, got.Kvs)
			}
			time.Sleep(20 * time.Millisecond)
		}
		f := lin.Kvs[0]
		wantKV(t, "serializable get on "+m.Name, got.Kvs[0], k, "v1", f.CreateRevision, f.ModRevision, f.Version, 0)
		if got.Header.MemberId != s.memberID(t, m.Endpoint()) {
			t.Fatalf("serializable get on %s: header member_id %x is not that member", m.Name, got.Header.MemberId)
		}
	}
	// Serializable combines with the other range options.
	get := must[*clientv3.GetResponse](t, "serializable prefix")(cli.Get(ctx, s.p+"serial/", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithCountOnly()))
	if get.Count < 0 || get.Count > 1 {
		t.Fatalf("serializable count_only: count %d", get.Count)
	}
}

func (s kvSuite) memberID(t *testing.T, endpoint string) uint64 {
	t.Helper()
	st := must[*clientv3.StatusResponse](t, "status")(s.cli.Status(s.ctx, endpoint))
	return st.Header.MemberId
}

func (s kvSuite) delete(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"del/"
	s.putAll(t, p+"a", "1")
	r0 := rev(t, ctx, cli)

	del := must[*clientv3.DeleteResponse](t, "delete")(cli.Delete(ctx, p+"a"))
	if del.Deleted != 1 || del.Header.Revision != r0+1 || len(del.PrevKvs) != 0 {
		t.Fatalf("delete one key: deleted %d revision %d prev_kvs %d, want 1 %d 0", del.Deleted, del.Header.Revision, len(del.PrevKvs), r0+1)
	}
	get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p+"a"))
	if len(get.Kvs) != 0 || get.Count != 0 {
		t.Fatalf("deleted key still read: %v", get.Kvs)
	}

	// Deleting nothing succeeds and does not create a revision.
	del = must[*clientv3.DeleteResponse](t, "delete")(cli.Delete(ctx, p+"missing", clientv3.WithPrevKV()))
	if del.Deleted != 0 || del.Header.Revision != r0+1 || len(del.PrevKvs) != 0 {
		t.Fatalf("delete of a missing key: deleted %d revision %d, want 0 %d", del.Deleted, del.Header.Revision, r0+1)
	}
	// Again (the key is a tombstone now).
	del = must[*clientv3.DeleteResponse](t, "delete")(cli.Delete(ctx, p+"a"))
	if del.Deleted != 0 || del.Header.Revision != r0+1 {
		t.Fatalf("second delete: deleted %d revision %d, want 0 %d", del.Deleted, del.Header.Revision, r0+1)
	}

	// A re-created key starts over at version 1.
	rc := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+"a", "again")).Header.Revision
	get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p+"a"))
	wantKV(t, "re-created", get.Kvs[0], p+"a", "again", rc, rc, 1, 0)

	// Prefix with prev_kv: one revision for every key, prev_kvs in key order.
	s.putAll(t, p+"x/c", "3", p+"x/a", "1", p+"x/b", "2", p+"y", "keep")
	r1 := rev(t, ctx, cli)
	del = must[*clientv3.DeleteResponse](t, "delete prefix")(cli.Delete(ctx, p+"x/", clientv3.WithPrefix(), clientv3.WithPrevKV()))
	if del.Deleted != 3 || del.Header.Revision != r1+1 {
		t.Fatalf("delete prefix: deleted %d revision %d, want 3 %d", del.Deleted, del.Header.Revision, r1+1)
	}
	wantKeys(t, "delete prefix prev_kvs", del.PrevKvs, p+"x/a", p+"x/b", p+"x/c")
	for i, v := range []string{"1", "2", "3"} {
		if string(del.PrevKvs[i].Value) != v {
			t.Fatalf("prev_kvs[%d] value %q, want %q", i, del.PrevKvs[i].Value, v)
		}
	}
	get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p, clientv3.WithPrefix()))
	wantKeys(t, "after delete prefix", get.Kvs, p+"a", p+"y")

	// Range [b, d).
	s.putAll(t, p+"r/a", "1", p+"r/b", "2", p+"r/c", "3", p+"r/d", "4")
	del = must[*clientv3.DeleteResponse](t, "delete range")(cli.Delete(ctx, p+"r/b", clientv3.WithRange(p+"r/d")))
	if del.Deleted != 2 {
		t.Fatalf("delete range: deleted %d, want 2", del.Deleted)
	}
	get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p+"r/", clientv3.WithPrefix()))
	wantKeys(t, "after delete range", get.Kvs, p+"r/a", p+"r/d")

	// From key, in the "\xfe" area that sorts after every other test key.
	fp := "\xfe" + s.p + "del/"
	s.putAll(t, fp+"a", "1", fp+"b", "2", fp+"c", "3")
	del = must[*clientv3.DeleteResponse](t, "delete from key")(cli.Delete(ctx, fp+"b", clientv3.WithFromKey(), clientv3.WithPrevKV()))
	if del.Deleted != 2 {
		t.Fatalf("delete from key: deleted %d, want 2", del.Deleted)
	}
	wantKeys(t, "delete from key prev_kvs", del.PrevKvs, fp+"b", fp+"c")
	get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, fp, clientv3.WithPrefix()))
	wantKeys(t, "after delete from key", get.Kvs, fp+"a")
	must[*clientv3.DeleteResponse](t, "cleanup")(cli.Delete(ctx, fp, clientv3.WithPrefix()))
}

func (s kvSuite) emptyKey(t *testing.T) {
	ctx, cli := s.ctx, s.cli
	r0 := rev(t, ctx, cli)
	_, err := cli.Get(ctx, "")
	wantErr(t, `Get("")`, err, rpctypes.ErrEmptyKey)
	_, err = cli.Put(ctx, "", "v")
	wantErr(t, `Put("")`, err, rpctypes.ErrEmptyKey)
	_, err = cli.Delete(ctx, "")
	wantErr(t, `Delete("")`, err, rpctypes.ErrEmptyKey)
	wantRev(t, ctx, cli, "rejected requests do not write", r0)
}

func (s kvSuite) revisionSemantics(t *testing.T) {
	ctx, cli, p := s.ctx, s.cli, s.p+"sem/"
	r0 := rev(t, ctx, cli)

	// Each put is one revision.
	for i := range 3 {
		put := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+"k", "v"))
		if put.Header.Revision != r0+1+int64(i) {
			t.Fatalf("put %d: revision %d, want %d", i, put.Header.Revision, r0+1+int64(i))
		}
	}
	r0 += 3

	// A transaction is one revision, however many keys it writes; every
	// key it writes gets that revision.
	txn := must[*clientv3.TxnResponse](t, "txn")(cli.Txn(ctx).Then(
		clientv3.OpPut(p+"t1", "1"), clientv3.OpPut(p+"t2", "2"), clientv3.OpDelete(p+"k"), clientv3.OpPut(p+"t3", "3"),
	).Commit())
	if txn.Header.Revision != r0+1 {
		t.Fatalf("txn: revision %d, want %d", txn.Header.Revision, r0+1)
	}
	get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p+"t", clientv3.WithPrefix()))
	for _, kv := range get.Kvs {
		if kv.ModRevision != r0+1 || kv.CreateRevision != r0+1 {
			t.Fatalf("key %q written by the txn has mod %d create %d, want %d", kv.Key, kv.ModRevision, kv.CreateRevision, r0+1)
		}
	}
	r0++

	// Deleting nothing, reading, and transactions that change nothing do not
	// create revisions, and report the current one.
	del := must[*clientv3.DeleteResponse](t, "delete")(cli.Delete(ctx, p+"none", clientv3.WithPrefix()))
	if del.Header.Revision != r0 {
		t.Fatalf("delete of nothing: revision %d, want %d", del.Header.Revision, r0)
	}
	for name, tx := range map[string]clientv3.Txn{
		"read-only txn":               cli.Txn(ctx).Then(clientv3.OpGet(p + "t1")),
		"empty txn":                   cli.Txn(ctx),
		"txn deleting nothing":        cli.Txn(ctx).Then(clientv3.OpDelete(p+"none"), clientv3.OpDelete(p+"none/", clientv3.WithPrefix())),
		"failed txn without else ops": cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(p+"t1"), "=", "nope")).Then(clientv3.OpPut(p+"t1", "x")),
	} {
		resp := must[*clientv3.TxnResponse](t, name)(tx.Commit())
		if resp.Header.Revision != r0 {
			t.Fatalf("%s: revision %d, want %d", name, resp.Header.Revision, r0)
		}
	}
	wantRev(t, ctx, cli, "after writes that change nothing", r0)
}
