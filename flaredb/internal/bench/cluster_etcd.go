package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// etcdCluster is three members of etcd or Chainfire (same flags).
type etcdCluster struct {
	name    string
	members []*Proc
	clients []string // client host:port per member
}

func startEtcdCluster(ctx context.Context, name, bin, dir string) (*etcdCluster, error) {
	const n = 3
	clients, err := freeAddrs(n)
	if err != nil {
		return nil, err
	}
	peers, err := freeAddrs(n)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("%s-%d=http://%s", name, i, peers[i]))
	}
	c := &etcdCluster{name: name, clients: clients}
	for i := range n {
		m := fmt.Sprintf("%s-%d", name, i)
		p := newProc(m, bin, dir,
			"--name="+m,
			"--data-dir="+filepath.Join(dir, m),
			"--listen-client-urls=http://"+clients[i],
			"--advertise-client-urls=http://"+clients[i],
			"--listen-peer-urls=http://"+peers[i],
			"--initial-advertise-peer-urls=http://"+peers[i],
			"--initial-cluster="+strings.Join(initial, ","),
			"--initial-cluster-state=new",
			"--initial-cluster-token="+name+"-bench",
			"--log-level=warn",
		)
		if err := p.Start(); err != nil {
			c.stop()
			return nil, err
		}
		c.members = append(c.members, p)
	}
	if err := c.waitReady(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// waitReady waits until a linearizable read answers on every member.
func (c *etcdCluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(90 * time.Second)
	for i, addr := range c.clients {
		ec := newEtcdConn(addr)
		for {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := ec.scan(rctx, []byte("ready"), 1)
			cancel()
			if err == nil {
				break
			}
			if c.members[i].Exited() || time.Now().After(deadline) || ctx.Err() != nil {
				ec.close()
				return fmt.Errorf("%s member %d not ready: %w; see %s", c.name, i, err, c.members[i].log)
			}
			time.Sleep(200 * time.Millisecond)
		}
		ec.close()
	}
	return nil
}

// conns opens n connections spread over the members.
func (c *etcdCluster) conns(n int) []conn {
	out := make([]conn, n)
	for i := range out {
		out[i] = newEtcdConn(c.clients[i%len(c.clients)])
	}
	return out
}

// preload writes keys [0, keys) with values of valueLen bytes.
func (c *etcdCluster) preload(ctx context.Context, keys, valueLen int) error {
	ec := newEtcdConn(c.clients[0])
	defer ec.close()
	value := make([]byte, valueLen)
	const batch = 100 // under etcd's default --max-txn-ops (128)
	for lo := 0; lo < keys; lo += batch {
		var ks, vs [][]byte
		for k := lo; k < min(keys, lo+batch); k++ {
			ks, vs = append(ks, key(k)), append(vs, value)
		}
		if err := ec.putBatch(ctx, ks, vs); err != nil {
			return fmt.Errorf("%s preload: %w", c.name, err)
		}
	}
	return nil
}

func (c *etcdCluster) pids() []int {
	var out []int
	for _, m := range c.members {
		out = append(out, m.Pid())
	}
	return out
}

func (c *etcdCluster) stop() {
	for _, m := range c.members {
		m.Kill()
	}
}

func closeAll(cs []conn) {
	for _, c := range cs {
		c.close()
	}
}
