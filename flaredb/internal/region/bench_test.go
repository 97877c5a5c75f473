package region

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func benchReplica(b *testing.B) *Replica {
	b.Helper()
	eng, err := engine.Open(b.TempDir(), engine.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = eng.Close() })
	r, err := Create(eng, &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1}})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func benchPut(h *flaredbv1.RaftCommandHeader, n uint64, value []byte) *flaredbv1.Mutation {
	key := binary.BigEndian.AppendUint64(nil, n)
	return &flaredbv1.Mutation{Op: &flaredbv1.Mutation_Put{Put: &flaredbv1.PutMutation{Key: key, Value: value}}}
}

// BenchmarkApplyBatch64Entries applies 64 single-put entries (8-byte keys,
// 256-byte values) per engine batch: one fsync per 64 puts, as a
// BatchingFSM does under load.
func BenchmarkApplyBatch64Entries(b *testing.B) {
	r := benchReplica(b)
	h := header(r)
	value := make([]byte, 256)
	var idx uint64
	entries := make([]Entry, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := range entries {
			idx++
			entries[i] = Entry{Index: idx, Term: 1, Command: &flaredbv1.RaftCommand{Header: h, Command: &flaredbv1.RaftCommand_Write{
				Write: &flaredbv1.WriteBatch{Mutations: []*flaredbv1.Mutation{benchPut(h, idx, value)}},
			}}}
		}
		if _, err := r.ApplyBatch(entries); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkApplyOneEntry64Puts applies one entry carrying a 64-put write
// batch (a client BatchPut).
func BenchmarkApplyOneEntry64Puts(b *testing.B) {
	r := benchReplica(b)
	h := header(r)
	value := make([]byte, 256)
	var idx, key uint64
	b.ReportAllocs()
	for b.Loop() {
		wb := &flaredbv1.WriteBatch{}
		for range 64 {
			key++
			wb.Mutations = append(wb.Mutations, benchPut(h, key, value))
		}
		idx++
		if _, err := r.Apply(idx, 1, &flaredbv1.RaftCommand{Header: h, Command: &flaredbv1.RaftCommand_Write{Write: wb}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkApplySingle applies one single-put entry per batch: the fsync
// bound without batching.
func BenchmarkApplySingle(b *testing.B) {
	r := benchReplica(b)
	h := header(r)
	value := make([]byte, 256)
	var idx uint64
	b.ReportAllocs()
	for b.Loop() {
		idx++
		cmd := &flaredbv1.RaftCommand{Header: h, Command: &flaredbv1.RaftCommand_Write{
			Write: &flaredbv1.WriteBatch{Mutations: []*flaredbv1.Mutation{benchPut(h, idx, value)}},
		}}
		if _, err := r.Apply(idx, 1, cmd); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// fillBench writes n keys (8-byte big endian, 256-byte values).
func fillBench(b *testing.B, r *Replica, n uint64) {
	b.Helper()
	h := header(r)
	value := make([]byte, 256)
	for start := uint64(0); start < n; start += 1024 {
		wb := &flaredbv1.WriteBatch{}
		for k := start; k < start+1024; k++ {
			wb.Mutations = append(wb.Mutations, benchPut(h, k, value))
		}
		if _, err := r.Apply(start/1024+1, 1, &flaredbv1.RaftCommand{Header: h, Command: &flaredbv1.RaftCommand_Write{Write: wb}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet reads random keys of a 64k-key region.
func BenchmarkGet(b *testing.B) {
	r := benchReplica(b)
	const n = 1 << 16
	fillBench(b, r, n)
	rc := reqCtx(r)
	ctx := context.Background()
	var i uint64
	b.ReportAllocs()
	for b.Loop() {
		i = (i*2654435761 + 1) % n
		if _, ok, err := r.Get(ctx, rc, binary.BigEndian.AppendUint64(nil, i)); err != nil || !ok {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan100 scans 100 pairs from random starts of a 64k-key region.
func BenchmarkScan100(b *testing.B) {
	r := benchReplica(b)
	const n = 1 << 16
	fillBench(b, r, n)
	rc := reqCtx(r)
	ctx := context.Background()
	var i uint64
	b.ReportAllocs()
	for b.Loop() {
		i = (i*2654435761 + 1) % (n - 100)
		kvs, err := r.Scan(ctx, rc, ScanOptions{Start: binary.BigEndian.AppendUint64(nil, i), Limit: 100})
		if err != nil || len(kvs) != 100 {
			b.Fatal(len(kvs), err)
		}
	}
}
