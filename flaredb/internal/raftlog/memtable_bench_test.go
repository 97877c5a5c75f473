package raftlog

import (
	"fmt"
	"math/rand"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
)

// BenchmarkStoreLogsMemTable appends one 300-byte entry at a time to a
// random one of 64 regions' logs (on an in-memory file system, so the
// sync is free and the memtable insert is what is measured), for several
// memtable sizes. cpu-ns/op is the process's CPU time per append.
func BenchmarkStoreLogsMemTable(b *testing.B) {
	for _, mb := range []uint64{8, 16, 32} {
		b.Run(fmt.Sprintf("%dMiB", mb), func(b *testing.B) {
			d, err := Open("/raftlog", Options{FS: vfs.NewMem(), MemTableSize: mb << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = d.Close() }()
			var logs [64]*Log
			var next [64]uint64
			for i := range logs {
				if logs[i], err = d.Region(uint64(i + 1)); err != nil {
					b.Fatal(err)
				}
				next[i] = 1
			}
			data := make([]byte, 300)
			rng := rand.New(rand.NewSource(1))
			appendOne := func() {
				r := rng.Intn(len(logs))
				e := &raft.Log{Index: next[r], Term: 1, Type: raft.LogCommand, Data: data}
				next[r]++
				if err := logs[r].StoreLogs([]*raft.Log{e}); err != nil {
					b.Fatal(err)
				}
			}
			for range 100000 {
				appendOne()
			}
			b.ResetTimer()
			start := cpuTime()
			for range b.N {
				appendOne()
			}
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
