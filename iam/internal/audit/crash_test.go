package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	bolt "go.etcd.io/bbolt"

	"github.com/photoncloud/core/iam/internal/store"
)

// The child half of TestKillMidWrites: create users with the audit hook as
// fast as possible until killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("AUDIT_CRASH_CHILD_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

func crashChild(dir string) {
	ctx := context.Background()
	st, err := store.OpenBolt(dir)
	if err != nil {
		os.Exit(2)
	}
	l, err := Open(ctx, st, Config{})
	if err != nil {
		os.Exit(2)
	}
	st.SetIdentityHook(l.IdentityHook())
	for i := 0; ; i++ {
		if err := st.CreateUser(ctx, &store.User{ID: fmt.Sprintf("usr_%06d", i), Name: fmt.Sprintf("u%06d", i)}); err != nil {
			os.Exit(3)
		}
		if i == 20 {
			_ = os.WriteFile(dir+"/started", nil, 0o600)
		}
	}
}

// TestKillMidWrites kills (SIGKILL) a process in the middle of a stream of
// audited identity writes, then checks on reopening that every user has
// exactly its creation record and every record its user, and the chain
// verifies.
func TestKillMidWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AUDIT_CRASH_CHILD_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(dir + "/started"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("child never started writing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exit) {
		t.Fatalf("child ended on its own: %v", err)
	}

	st, err := store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := Open(context.Background(), st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	_ = st.ViewTx(context.Background(), func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("users")).ForEach(func(k, _ []byte) error { users[string(k)] = true; return nil })
	})
	seen := map[string]bool{}
	err = l.Export(context.Background(), 1, func(r *Record) error {
		if r.Action != "iam.users.create" || !users[r.Resource] || seen[r.Resource] {
			return fmt.Errorf("record without its change: %+v", r)
		}
		seen[r.Resource] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(users) || len(users) < 20 {
		t.Fatalf("%d users, %d records", len(users), len(seen))
	}
	if rep := verify(t, l); !rep.OK {
		t.Fatalf("verify after kill: %+v", rep)
	}
	t.Logf("%d audited writes survived the kill", len(users))
}

func TestTraceIDFromSpanContext(t *testing.T) {
	_, l := openLog(t, Config{})
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	if err := l.Event(ctx, "user:a", "iam.auth.login", OutcomeSuccess, ""); err != nil {
		t.Fatal(err)
	}
	recs, _, err := l.Query(context.Background(), Filter{})
	if err != nil || len(recs) != 1 || recs[0].TraceID != tid.String() {
		t.Fatalf("trace id: %+v %v", recs, err)
	}
}
