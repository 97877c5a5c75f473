package compat

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/photoncloud/core/chainfire/etcdcompat/cluster"
)

// etcdctl runs the real etcdctl binary against a cluster.
type etcdctl struct {
	bin string
	eps []string
}

// run runs etcdctl with stdin and args and returns its stdout, stderr and
// exit error.
func (e etcdctl) run(ctx context.Context, stdin string, args ...string) (string, string, error) {
	full := append([]string{"--endpoints=" + strings.Join(e.eps, ","), "--dial-timeout=5s", "--command-timeout=15s"}, args...)
	cmd := exec.CommandContext(ctx, e.bin, full...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// ok runs etcdctl and fails the test unless it exits 0.
func (e etcdctl) ok(t *testing.T, ctx context.Context, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := e.run(ctx, stdin, args...)
	if err != nil {
		t.Fatalf("etcdctl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// want runs etcdctl and fails the test unless it exits 0 printing exactly
// want on stdout.
func (e etcdctl) want(t *testing.T, ctx context.Context, want, stdin string, args ...string) {
	t.Helper()
	if got := e.ok(t, ctx, stdin, args...); got != want {
		t.Fatalf("etcdctl %s: stdout\n%q\nwant\n%q", strings.Join(args, " "), got, want)
	}
}

// The JSON etcdctl prints with -w json: protobuf messages through
// encoding/json, so bytes are base64 and fields are snake_case.
type ctlHeader struct {
	ClusterID uint64 `json:"cluster_id"`
	MemberID  uint64 `json:"member_id"`
	Revision  int64  `json:"revision"`
	RaftTerm  uint64 `json:"raft_term"`
}

type ctlKV struct {
	Key            []byte `json:"key"`
	CreateRevision int64  `json:"create_revision"`
	ModRevision    int64  `json:"mod_revision"`
	Version        int64  `json:"version"`
	Value          []byte `json:"value"`
	Lease          int64  `json:"lease"`
}

type ctlRange struct {
	Header ctlHeader `json:"header"`
	Kvs    []ctlKV   `json:"kvs"`
	More   bool      `json:"more"`
	Count  int64     `json:"count"`
}

func decodeJSON[T any](t *testing.T, what, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: decoding %q: %v", what, s, err)
	}
	return v
}

// TestEtcdctl drives the cluster with the real etcdctl: put, get (plain and
// -w json), del, txn from stdin, compaction, endpoint status, endpoint
// health and member list, checking each answer against clientv3's view.
func TestEtcdctl(t *testing.T) {
	ctx := deadline(t, 120*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	ctl := etcdctl{bin: cluster.EtcdctlBinary(t), eps: c.Endpoints()}

	t.Run("PutGet", func(t *testing.T) {
		ctl.want(t, ctx, "OK\n", "", "put", "ctl/foo", "bar")
		ctl.want(t, ctx, "ctl/foo\nbar\n", "", "get", "ctl/foo")
		ctl.want(t, ctx, "bar\n", "", "get", "ctl/foo", "--print-value-only")
		ctl.want(t, ctx, "", "", "get", "ctl/missing")
		ctl.want(t, ctx, "ctl/foo\nbar\n", "", "get", "ctl/foo", "--consistency=s")
		get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "ctl/foo"))
		if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "bar" {
			t.Fatalf("clientv3 after etcdctl put: %v", get.Kvs)
		}
		// put -w json prints the response header: its revision is the write's.
		pr := decodeJSON[struct {
			Header ctlHeader `json:"header"`
		}](t, "put -w json", ctl.ok(t, ctx, "", "put", "ctl/foo", "baz", "-w", "json"))
		get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "ctl/foo"))
		if pr.Header.Revision != get.Kvs[0].ModRevision || pr.Header.ClusterID != get.Header.ClusterId {
			t.Fatalf("put -w json header %+v; clientv3 sees mod_revision %d cluster %x", pr.Header, get.Kvs[0].ModRevision, get.Header.ClusterId)
		}
		ctl.want(t, ctx, "OK\nctl/foo\nbaz\n", "", "put", "ctl/foo", "qux", "--prev-kv")
	})

	t.Run("GetPrefixJSON", func(t *testing.T) {
		p := "ctl/p/"
		ctl.want(t, ctx, "OK\n", "", "put", p+"a", "1")
		ctl.want(t, ctx, "OK\n", "", "put", p+"b", "2")
		ctl.want(t, ctx, "OK\n", "", "put", p+"a", "3")
		out := ctl.ok(t, ctx, "", "get", p, "--prefix", "-w", "json")
		// Keys and values are base64 in the JSON.
		var raw struct {
			Kvs []struct {
				Key   string `json:"key"`
				Value string `json:"value"`
			} `json:"kvs"`
		}
		if err := json.Unmarshal([]byte(out), &raw); err != nil || len(raw.Kvs) != 2 {
			t.Fatalf("get -w json: %q (%v)", out, err)
		}
		if raw.Kvs[0].Key != base64.StdEncoding.EncodeToString([]byte(p+"a")) || raw.Kvs[0].Value != base64.StdEncoding.EncodeToString([]byte("3")) {
			t.Fatalf("get -w json: key %q value %q, want base64 of %q and %q", raw.Kvs[0].Key, raw.Kvs[0].Value, p+"a", "3")
		}
		got := decodeJSON[ctlRange](t, "get --prefix -w json", out)
		want := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p, clientv3.WithPrefix()))
		if got.Header.Revision != want.Header.Revision || got.Header.ClusterID != want.Header.ClusterId || got.Header.MemberID == 0 || got.Header.RaftTerm == 0 {
			t.Fatalf("get -w json header %+v; clientv3 header %v", got.Header, want.Header)
		}
		if got.Count != 2 || got.More || len(got.Kvs) != len(want.Kvs) {
			t.Fatalf("get -w json: count %d more %v kvs %d; want 2 false %d", got.Count, got.More, len(got.Kvs), len(want.Kvs))
		}
		for i, kv := range got.Kvs {
			w := want.Kvs[i]
			if string(kv.Key) != string(w.Key) || string(kv.Value) != string(w.Value) || kv.CreateRevision != w.CreateRevision ||
				kv.ModRevision != w.ModRevision || kv.Version != w.Version || kv.Lease != w.Lease {
				t.Fatalf("get -w json kv %d: %+v; clientv3 %v", i, kv, w)
			}
		}
		if got.Kvs[0].Version != 2 || got.Kvs[0].CreateRevision >= got.Kvs[0].ModRevision {
			t.Fatalf("get -w json: %s has version %d create %d mod %d", got.Kvs[0].Key, got.Kvs[0].Version, got.Kvs[0].CreateRevision, got.Kvs[0].ModRevision)
		}

		lim := decodeJSON[ctlRange](t, "get --limit", ctl.ok(t, ctx, "", "get", p, "--prefix", "--limit=1", "-w", "json"))
		if len(lim.Kvs) != 1 || !lim.More || lim.Count != 2 {
			t.Fatalf("get --limit=1 -w json: %d kvs more %v count %d, want 1 true 2", len(lim.Kvs), lim.More, lim.Count)
		}
		ctl.want(t, ctx, p+"a\n\n"+p+"b\n\n", "", "get", p, "--prefix", "--keys-only")
		ctl.want(t, ctx, p+"a\n3\n"+p+"b\n2\n", "", "get", p, "--prefix", "--sort-by=MODIFY", "--order=DESCEND")
		ctl.want(t, ctx, p+"b\n2\n", "", "get", p+"b", "--from-key", "--limit=1")
		// --count-only works only with -w fields.
		if out := ctl.ok(t, ctx, "", "get", p, "--prefix", "--count-only", "-w", "fields"); !regexp.MustCompile(`(?m)^"Count" : 2$`).MatchString(out) || strings.Contains(out, `"Key"`) {
			t.Fatalf("get --count-only -w fields:\n%s", out)
		}
		hist := decodeJSON[ctlRange](t, "get --rev", ctl.ok(t, ctx, "", "get", p+"a", "--rev="+fmt.Sprint(got.Kvs[0].CreateRevision), "-w", "json"))
		if len(hist.Kvs) != 1 || string(hist.Kvs[0].Value) != "1" || hist.Header.Revision != want.Header.Revision {
			t.Fatalf("get --rev=%d -w json: %+v", got.Kvs[0].CreateRevision, hist)
		}
	})

	t.Run("Del", func(t *testing.T) {
		p := "ctl/d/"
		for _, k := range []string{"a", "b", "c", "x"} {
			must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+k, "v-"+k))
		}
		ctl.want(t, ctx, "1\n", "", "del", p+"x")
		ctl.want(t, ctx, "0\n", "", "del", p+"x")
		ctl.want(t, ctx, "1\n"+p+"a\nv-a\n", "", "del", p+"a", "--prev-kv")
		ctl.want(t, ctx, "2\n", "", "del", p, "--prefix")
		get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly()))
		if get.Count != 0 {
			t.Fatalf("after del --prefix: %d keys left", get.Count)
		}
	})

	t.Run("Txn", func(t *testing.T) {
		p := "ctl/tx/"
		put := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, p+"a", "1"))
		r := put.Header.Revision
		// Compares, a blank line, success ops, a blank line, failure ops, a
		// blank line (etcdctl reads each block up to an empty line).
		ok := fmt.Sprintf(`value("%[1]sa") = "1"
mod("%[1]sa") = "%[2]d"
create("%[1]sa") < "%[3]d"
ver("%[1]sa") > "0"

put %[1]sb "then"
get %[1]sa

put %[1]sb "else"

`, p, r, r+1)
		ctl.want(t, ctx, "SUCCESS\n\nOK\n\n"+p+"a\n1\n", ok, "txn")
		get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p+"b"))
		if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "then" {
			t.Fatalf("after the successful txn: %v", get.Kvs)
		}

		fail := fmt.Sprintf(`value("%[1]sa") = "2"

put %[1]sb "then2"

put %[1]sb "else"
get %[1]sb
del %[1]sa

`, p)
		ctl.want(t, ctx, "FAILURE\n\nOK\n\n"+p+"b\nelse\n\n1\n", fail, "txn")
		get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p, clientv3.WithPrefix()))
		wantKeys(t, "after the failed txn", get.Kvs, p+"b")

		// -w json: header, succeeded and one response per op.
		js := ctl.ok(t, ctx, fmt.Sprintf("ver(\"%[1]sb\") = \"2\"\n\nput %[1]sc \"x\"\nget %[1]sb\n\n\n", p), "txn", "-w", "json")
		tr := decodeJSON[struct {
			Header    ctlHeader `json:"header"`
			Succeeded bool      `json:"succeeded"`
			Responses []struct {
				Response struct {
					ResponsePut   *struct{ Header ctlHeader } `json:"response_put"`
					ResponseRange *ctlRange                   `json:"response_range"`
				} `json:"Response"`
			} `json:"responses"`
		}](t, "txn -w json", js)
		if !tr.Succeeded || len(tr.Responses) != 2 || tr.Responses[0].Response.ResponsePut == nil || tr.Responses[1].Response.ResponseRange == nil {
			t.Fatalf("txn -w json: %s", js)
		}
		if kvs := tr.Responses[1].Response.ResponseRange.Kvs; len(kvs) != 1 || string(kvs[0].Value) != "else" || kvs[0].Version != 2 {
			t.Fatalf("txn -w json range response: %s", js)
		}
		get = must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, p+"c"))
		if len(get.Kvs) != 1 || get.Kvs[0].ModRevision != tr.Header.Revision {
			t.Fatalf("txn -w json header revision %d; clientv3 sees %v", tr.Header.Revision, get.Kvs)
		}

		// A duplicate key is refused with etcd's message.
		_, errOut, err := ctl.run(ctx, fmt.Sprintf("\nput %[1]sd 1\nput %[1]sd 2\n\n\n", p), "txn")
		if err == nil || !strings.Contains(errOut, "etcdserver: duplicate key given in txn request") {
			t.Fatalf("txn with a duplicate key: err %v stderr %q", err, errOut)
		}
	})

	t.Run("Compaction", func(t *testing.T) {
		k := "ctl/compact"
		r1 := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "1")).Header.Revision
		r2 := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "2")).Header.Revision
		r3 := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "3")).Header.Revision
		ctl.want(t, ctx, fmt.Sprintf("compacted revision %d\n", r2), "", "compaction", fmt.Sprint(r2))
		_, errOut, err := ctl.run(ctx, "", "get", k, "--rev="+fmt.Sprint(r1))
		if err == nil || !strings.Contains(errOut, "etcdserver: mvcc: required revision has been compacted") {
			t.Fatalf("get below the compaction revision: err %v stderr %q", err, errOut)
		}
		ctl.want(t, ctx, k+"\n2\n", "", "get", k, "--rev="+fmt.Sprint(r2))
		ctl.want(t, ctx, fmt.Sprintf("compacted revision %d\n", r3), "", "compaction", "--physical", fmt.Sprint(r3))
		_, errOut, err = ctl.run(ctx, "", "compaction", fmt.Sprint(r3+100))
		if err == nil || !strings.Contains(errOut, "etcdserver: mvcc: required revision is a future revision") {
			t.Fatalf("compaction at a future revision: err %v stderr %q", err, errOut)
		}
		ctl.want(t, ctx, k+"\n3\n", "", "get", k)
	})

	type epStatus struct {
		Endpoint string `json:"Endpoint"`
		Status   struct {
			Header           ctlHeader `json:"header"`
			Version          string    `json:"version"`
			DbSize           int64     `json:"dbSize"`
			Leader           uint64    `json:"leader"`
			RaftIndex        uint64    `json:"raftIndex"`
			RaftTerm         uint64    `json:"raftTerm"`
			RaftAppliedIndex uint64    `json:"raftAppliedIndex"`
		} `json:"Status"`
	}
	checkStatus := func(t *testing.T, what string, sts []epStatus, wantEps []string) {
		t.Helper()
		var eps []string
		leaders := 0
		for _, st := range sts {
			eps = append(eps, st.Endpoint)
			s := st.Status
			if s.Leader == 0 || s.Leader != sts[0].Status.Leader || s.RaftIndex == 0 || s.RaftTerm == 0 || s.Version == "" || s.DbSize <= 0 ||
				s.Header.ClusterID == 0 || s.Header.ClusterID != sts[0].Status.Header.ClusterID {
				t.Fatalf("%s: %+v", what, sts)
			}
			if s.Header.MemberID == s.Leader {
				leaders++
			}
		}
		if leaders != 1 {
			t.Fatalf("%s: %d members are the leader: %+v", what, leaders, sts)
		}
		slices.Sort(eps)
		wantEps = slices.Sorted(slices.Values(wantEps))
		if !slices.Equal(eps, wantEps) {
			t.Fatalf("%s: endpoints %v, want %v", what, eps, wantEps)
		}
	}

	t.Run("EndpointStatus", func(t *testing.T) {
		out := ctl.ok(t, ctx, "", "endpoint", "status", "-w", "json")
		checkStatus(t, "endpoint status -w json", decodeJSON[[]epStatus](t, "endpoint status", out), c.Endpoints())
		// --cluster takes the endpoints from MemberList: the client URLs.
		var urls []string
		for _, m := range c.Members() {
			urls = append(urls, m.ClientURL)
		}
		out = ctl.ok(t, ctx, "", "endpoint", "status", "--cluster", "-w", "json")
		checkStatus(t, "endpoint status --cluster -w json", decodeJSON[[]epStatus](t, "endpoint status --cluster", out), urls)
		// The table form names every endpoint too.
		out = ctl.ok(t, ctx, "", "endpoint", "status", "-w", "table")
		for _, ep := range c.Endpoints() {
			if !strings.Contains(out, ep) {
				t.Fatalf("endpoint status -w table lacks %s:\n%s", ep, out)
			}
		}
	})

	t.Run("EndpointHealth", func(t *testing.T) {
		out := ctl.ok(t, ctx, "", "endpoint", "health")
		line := regexp.MustCompile(`^(\S+) is healthy: successfully committed proposal: took = \S+$`)
		var eps []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			m := line.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("endpoint health: unexpected line %q in\n%s", l, out)
			}
			eps = append(eps, m[1])
		}
		if slices.Sort(eps); !slices.Equal(eps, slices.Sorted(slices.Values(c.Endpoints()))) {
			t.Fatalf("endpoint health: endpoints %v, want %v", eps, c.Endpoints())
		}
		hs := decodeJSON[[]struct {
			Endpoint string `json:"endpoint"`
			Health   bool   `json:"health"`
			Error    string `json:"error"`
		}](t, "endpoint health -w json", ctl.ok(t, ctx, "", "endpoint", "health", "-w", "json"))
		if len(hs) != len(c.Members()) {
			t.Fatalf("endpoint health -w json: %+v", hs)
		}
		for _, h := range hs {
			if !h.Health || h.Error != "" {
				t.Fatalf("endpoint health -w json: %+v", hs)
			}
		}
		ctl.ok(t, ctx, "", "endpoint", "health", "--cluster")
	})

	t.Run("MemberList", func(t *testing.T) {
		ml := decodeJSON[struct {
			Header  ctlHeader `json:"header"`
			Members []struct {
				ID         uint64   `json:"ID"`
				Name       string   `json:"name"`
				PeerURLs   []string `json:"peerURLs"`
				ClientURLs []string `json:"clientURLs"`
			} `json:"members"`
		}](t, "member list -w json", ctl.ok(t, ctx, "", "member", "list", "-w", "json"))
		var names []string
		for _, m := range ml.Members {
			names = append(names, m.Name)
			if m.ID == 0 || len(m.PeerURLs) != 1 || len(m.ClientURLs) != 1 {
				t.Fatalf("member list -w json: %+v", ml.Members)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"m0", "m1", "m2"}) {
			t.Fatalf("member list -w json: names %v", names)
		}
		out := ctl.ok(t, ctx, "", "member", "list")
		for _, m := range c.Members() {
			if !strings.Contains(out, ", "+m.Name+", "+m.PeerURL+", "+m.ClientURL+", false") {
				t.Fatalf("member list lacks %s:\n%s", m.Name, out)
			}
		}
	})
}
