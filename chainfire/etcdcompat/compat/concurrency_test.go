package compat

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// The concurrency tests run clientv3/concurrency unmodified. Contenders
// that must be killed run in child processes: this test binary re-executed
// with COMPAT_CONTENDER set, which makes TestContenderProcess act as one.

const contenderEnv = "COMPAT_CONTENDER"

// TestContenderProcess is a child process's body; it skips in a normal run.
func TestContenderProcess(t *testing.T) {
	role := os.Getenv(contenderEnv)
	if role == "" {
		t.Skip("only runs as a contender child process")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(os.Getenv("COMPAT_ENDPOINTS"), ","), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	switch role {
	case "mutex":
		rounds, _ := strconv.Atoi(os.Getenv("COMPAT_ROUNDS"))
		err = mutexRounds(ctx, cli, rounds)
	case "elect":
		err = campaignAndHold(ctx, cli, os.Getenv("COMPAT_NAME"))
	default:
		err = fmt.Errorf("unknown contender role %q", role)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// mutexRounds increments a counter rounds times, each a read-modify-write
// under the same Mutex. Without mutual exclusion increments get lost.
func mutexRounds(ctx context.Context, cli *clientv3.Client, rounds int) error {
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(5))
	if err != nil {
		return err
	}
	defer s.Close()
	mu := concurrency.NewMutex(s, "conc/mutex")
	for range rounds {
		if err := mu.Lock(ctx); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		get, err := cli.Get(ctx, "conc/counter")
		if err != nil {
			return err
		}
		n := 0
		if len(get.Kvs) == 1 {
			n, _ = strconv.Atoi(string(get.Kvs[0].Value))
		}
		time.Sleep(2 * time.Millisecond) // widen the window a lost update needs
		if _, err := cli.Put(ctx, "conc/counter", strconv.Itoa(n+1)); err != nil {
			return err
		}
		if err := mu.Unlock(ctx); err != nil {
			return fmt.Errorf("unlock: %w", err)
		}
	}
	return nil
}

// campaignAndHold wins the election as name, says so on stdout and holds
// leadership until killed.
func campaignAndHold(ctx context.Context, cli *clientv3.Client, name string) error {
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(2))
	if err != nil {
		return err
	}
	e := concurrency.NewElection(s, "conc/election")
	if err := e.Campaign(ctx, name); err != nil {
		return err
	}
	fmt.Printf("LEADER %s\n", name)
	<-s.Done()
	return errors.New("session ended")
}

// contender starts a child process in role with extra environment.
func contender(t *testing.T, endpoints []string, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestContenderProcess$", "-test.v")
	cmd.Env = append(os.Environ(), append([]string{contenderEnv + "=" + role, "COMPAT_ENDPOINTS=" + strings.Join(endpoints, ",")}, env...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

func TestConcurrencyMutexAcrossProcesses(t *testing.T) {
	ctx := deadline(t, 240*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	const procs, rounds = 3, 25
	var wg sync.WaitGroup
	errs := make([]error, procs)
	outs := make([][]byte, procs)
	for i := range procs {
		cmd := contender(t, c.Endpoints(), "mutex", "COMPAT_ROUNDS="+strconv.Itoa(rounds))
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("contender %d: %v\n%s", i, err, outs[i])
		}
	}
	get := must[*clientv3.GetResponse](t, "get counter")(cli.Get(ctx, "conc/counter"))
	if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != strconv.Itoa(procs*rounds) {
		t.Fatalf("counter = %v, want %d: the Mutex let two holders in", get.Kvs, procs*rounds)
	}
}

func TestConcurrencyMutexTryLock(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	s1 := must[*concurrency.Session](t, "session 1")(concurrency.NewSession(cli, concurrency.WithTTL(5)))
	s2 := must[*concurrency.Session](t, "session 2")(concurrency.NewSession(cli, concurrency.WithTTL(5)))
	m1, m2 := concurrency.NewMutex(s1, "conc/try"), concurrency.NewMutex(s2, "conc/try")
	if err := m1.TryLock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m2.TryLock(ctx); !errors.Is(err, concurrency.ErrLocked) {
		t.Fatalf("second TryLock: %v, want ErrLocked", err)
	}
	locked := make(chan error, 1)
	go func() { locked <- m2.Lock(ctx) }()
	select {
	case err := <-locked:
		t.Fatalf("Lock returned (%v) while the mutex was held", err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := m1.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-locked; err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	// A session's end (lease revoked) releases its locks too.
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m1.TryLock(ctx); err != nil {
		t.Fatalf("TryLock after the holder's session closed: %v", err)
	}
}

func TestConcurrencyElectionFailover(t *testing.T) {
	ctx := deadline(t, 120*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	first := contender(t, c.Endpoints(), "elect", "COMPAT_NAME=first")
	stdout, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Process.Kill(); _ = first.Wait() })
	waitLine(t, stdout, "LEADER first", 30*time.Second)

	second := contender(t, c.Endpoints(), "elect", "COMPAT_NAME=second")
	stdout2, err := second.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Process.Kill(); _ = second.Wait() })

	obsSession := must[*concurrency.Session](t, "session")(concurrency.NewSession(cli))
	observer := concurrency.NewElection(obsSession, "conc/election")
	if l := must[*clientv3.GetResponse](t, "leader")(observer.Leader(ctx)); string(l.Kvs[0].Value) != "first" {
		t.Fatalf("leader %q, want first", l.Kvs[0].Value)
	}
	observed := observer.Observe(ctx)
	time.Sleep(time.Second)
	if l := must[*clientv3.GetResponse](t, "leader")(observer.Leader(ctx)); string(l.Kvs[0].Value) != "first" {
		t.Fatalf("leadership moved to %q while first was alive", l.Kvs[0].Value)
	}
	killed := time.Now()
	_ = first.Process.Signal(syscall.SIGKILL)
	waitLine(t, stdout2, "LEADER second", 30*time.Second)
	if took := time.Since(killed); took < time.Second {
		t.Fatalf("second became leader %v after the kill: before first's 2s session TTL could run out", took)
	}
	for {
		select {
		case resp := <-observed:
			if len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) == "second" {
				return
			}
		case <-ctx.Done():
			t.Fatal("Observe never reported the new leader")
		}
	}
}

func waitLine(t *testing.T, r interface{ Read([]byte) (int, error) }, want string, within time.Duration) {
	t.Helper()
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == want {
				close(found)
				for sc.Scan() { // keep draining so the child never blocks
				}
				return
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(within):
		t.Fatalf("no %q within %v", want, within)
	}
}

func TestConcurrencyElectionAPI(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := startCluster(t)
	cli := c.Client(t)
	s := must[*concurrency.Session](t, "session")(concurrency.NewSession(cli, concurrency.WithTTL(5)))
	e := concurrency.NewElection(s, "conc/api")
	if _, err := e.Leader(ctx); !errors.Is(err, concurrency.ErrElectionNoLeader) {
		t.Fatalf("Leader with no campaign: %v", err)
	}
	if err := e.Campaign(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := e.Proclaim(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	if l := must[*clientv3.GetResponse](t, "leader")(e.Leader(ctx)); string(l.Kvs[0].Value) != "v2" {
		t.Fatalf("leader value %q after Proclaim, want v2", l.Kvs[0].Value)
	}
	if err := e.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Leader(ctx); !errors.Is(err, concurrency.ErrElectionNoLeader) {
		t.Fatalf("Leader after Resign: %v", err)
	}
}

// TestConcurrencySTM moves money between accounts from several goroutines
// with STM transactions at each isolation level; the total never changes.
// The client talks to one member: serializable STM reads pin the revision
// of its first read, which another member may not have applied yet (etcd
// answers "future revision" then too).
func TestConcurrencySTM(t *testing.T) {
	ctx := deadline(t, 120*time.Second)
	c := startCluster(t)
	cli := c.Client(t, c.Member(0).Endpoint())
	levels := map[string]concurrency.Isolation{
		"Serializable": concurrency.Serializable, "SerializableSnapshot": concurrency.SerializableSnapshot,
		"RepeatableReads": concurrency.RepeatableReads,
	}
	for name, level := range levels {
		t.Run(name, func(t *testing.T) {
			stmTransfers(t, ctx, cli, "stm/"+name+"/", level)
		})
	}
}

func stmTransfers(t *testing.T, ctx context.Context, cli *clientv3.Client, prefix string, level concurrency.Isolation) {
	const accounts, total = 5, 500
	for i := range accounts {
		must[*clientv3.PutResponse](t, "seed")(cli.Put(ctx, fmt.Sprintf("%s%d", prefix, i), strconv.Itoa(total/accounts)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				from, to := fmt.Sprintf("%s%d", prefix, (w+i)%accounts), fmt.Sprintf("%s%d", prefix, (w+i+1)%accounts)
				_, err := concurrency.NewSTM(cli, func(stm concurrency.STM) error {
					a, _ := strconv.Atoi(stm.Get(from))
					b, _ := strconv.Atoi(stm.Get(to))
					amount := min(a, 7)
					stm.Put(from, strconv.Itoa(a-amount))
					stm.Put(to, strconv.Itoa(b+amount))
					return nil
				}, concurrency.WithIsolation(level), concurrency.WithAbortContext(ctx))
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	get := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, prefix, clientv3.WithPrefix()))
	sum := 0
	for _, kv := range get.Kvs {
		n, _ := strconv.Atoi(string(kv.Value))
		sum += n
	}
	if sum != total {
		t.Fatalf("accounts sum to %d after concurrent STM transfers, want %d", sum, total)
	}
}
