package raftlog

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
)

func openMem(t *testing.T, fs vfs.FS) *DB {
	t.Helper()
	d, err := Open("raftlog", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func entries(from, to, term uint64) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, &raft.Log{Index: i, Term: term, Type: raft.LogCommand,
			Data: []byte{byte(i)}, AppendedAt: time.Unix(100, int64(i))})
	}
	return out
}

func bounds(t *testing.T, l *Log) (uint64, uint64) {
	t.Helper()
	f, _ := l.FirstIndex()
	la, _ := l.LastIndex()
	return f, la
}

func TestLogRoundTripAndBounds(t *testing.T) {
	fs := vfs.NewMem()
	d := openMem(t, fs)
	a, _ := d.Region(1)
	b, _ := d.Region(2)
	if f, l := bounds(t, a); f != 0 || l != 0 {
		t.Fatalf("empty log bounds %d..%d", f, l)
	}
	if err := a.StoreLogs(entries(1, 10, 1)); err != nil {
		t.Fatal(err)
	}
	if err := b.StoreLog(&raft.Log{Index: 5, Term: 2, Type: raft.LogNoop}); err != nil {
		t.Fatal(err)
	}
	var got raft.Log
	if err := a.GetLog(7, &got); err != nil {
		t.Fatal(err)
	}
	if got.Index != 7 || got.Term != 1 || got.Type != raft.LogCommand || !bytes.Equal(got.Data, []byte{7}) || got.AppendedAt.UnixNano() != time.Unix(100, 7).UnixNano() {
		t.Fatalf("entry 7 read back as %+v", got)
	}
	if err := b.GetLog(5, &got); err != nil || got.Data != nil || got.Type != raft.LogNoop {
		t.Fatalf("region 2 entry 5: %+v %v", got, err)
	}
	if err := a.GetLog(11, &got); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("missing entry: %v", err)
	}
	// A follower replaces a conflicting suffix, then compaction drops a prefix.
	if err := a.DeleteRange(8, 10); err != nil {
		t.Fatal(err)
	}
	if f, l := bounds(t, a); f != 1 || l != 7 {
		t.Fatalf("after suffix delete %d..%d", f, l)
	}
	if err := a.StoreLogs(entries(8, 12, 2)); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteRange(1, 4); err != nil {
		t.Fatal(err)
	}
	if f, l := bounds(t, a); f != 5 || l != 12 {
		t.Fatalf("after prefix delete %d..%d", f, l)
	}
	if f, l := bounds(t, b); f != 5 || l != 5 {
		t.Fatalf("region 2 bounds %d..%d changed by region 1", f, l)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened, the bounds and entries are loaded from disk.
	d = openMem(t, fs)
	defer d.Close()
	a, _ = d.Region(1)
	if f, l := bounds(t, a); f != 5 || l != 12 {
		t.Fatalf("reopened bounds %d..%d", f, l)
	}
	if err := a.GetLog(9, &got); err != nil || got.Term != 2 {
		t.Fatalf("reopened entry 9: %+v %v", got, err)
	}
	if err := a.DeleteRange(5, 12); err != nil {
		t.Fatal(err)
	}
	if f, l := bounds(t, a); f != 0 || l != 0 {
		t.Fatalf("after deleting all %d..%d", f, l)
	}
}

func TestStableStoreAndDrop(t *testing.T) {
	d := openMem(t, vfs.NewMem())
	defer d.Close()
	l, _ := d.Region(3)
	// hashicorp/raft tells a missing key by the message "not found".
	if _, err := l.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("missing stable key: %v", err)
	}
	if err := l.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := l.Set([]byte("LastVoteCand"), []byte("12")); err != nil {
		t.Fatal(err)
	}
	if v, err := l.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
		t.Fatalf("term %d %v", v, err)
	}
	if err := l.StoreLogs(entries(1, 3, 7)); err != nil {
		t.Fatal(err)
	}
	other, _ := d.Region(4)
	if err := other.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.HasState(3); !ok {
		t.Fatal("region 3 has no state")
	}
	if err := d.Drop(3); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.HasState(3); ok {
		t.Fatal("region 3 has state after Drop")
	}
	if v, err := other.GetUint64([]byte("CurrentTerm")); err != nil || v != 1 {
		t.Fatalf("Drop touched region 4: %d %v", v, err)
	}
	l, _ = d.Region(3)
	if f, la := bounds(t, l); f != 0 || la != 0 {
		t.Fatalf("dropped region bounds %d..%d", f, la)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	good := encode(nil, &raft.Log{Term: 3, Type: raft.LogCommand, Data: []byte("abc"), Extensions: []byte("x")})
	var out raft.Log
	if err := decode(good, &out); err != nil || string(out.Data) != "abc" || string(out.Extensions) != "x" {
		t.Fatalf("good entry: %+v %v", out, err)
	}
	for i := range len(good) {
		if err := decode(good[:i], &out); err == nil {
			t.Fatalf("truncated entry (%d of %d bytes) decoded", i, len(good))
		}
	}
	if err := decode(append(good, 0), &out); err == nil {
		t.Fatal("entry with trailing bytes decoded")
	}
}
