package region

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Snapshot stream format (all lengths uvarint):
//
//	"FDBRSNP1"                         magic, version 1
//	len RegionLocalState               the region's state
//	len RegionApplyState               the index the data reflects
//	{ len key  len value }*            the region's pairs in key order
//	0                                  end of pairs (keys are never empty)
//	crc32c (4 bytes, big endian)       of every byte before it
const snapshotMagic = "FDBRSNP1"

// newCRC returns the stream's checksum (CRC-32C; MakeTable returns
// the standard library's shared Castagnoli table).
func newCRC() hash.Hash32 { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }

// ErrBadSnapshot is returned when a snapshot stream is corrupt or does not
// belong to the region installing it.
var ErrBadSnapshot = errors.New("bad region snapshot")

// Snapshot is a point-in-time image of one region: an engine snapshot and
// the region's state read from that same snapshot, so data, range and
// applied index always agree. Taking one is cheap; WriteTo streams it.
type Snapshot struct {
	view  *engine.View
	state *flaredbv1.RegionLocalState
	apply *flaredbv1.RegionApplyState
}

// Snapshot captures the region now. The caller must Close it.
func (r *Replica) Snapshot() (*Snapshot, error) {
	r.mu.RLock()
	id := r.state.GetRegion().GetId()
	v := r.eng.NewSnapshot()
	r.mu.RUnlock()
	st, err := v.RegionState(id)
	if err != nil {
		_ = v.Close()
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	ap, err := v.ApplyState(id)
	if err != nil {
		_ = v.Close()
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &Snapshot{view: v, state: st, apply: ap}, nil
}

// Region is the region metadata the snapshot holds.
func (s *Snapshot) Region() *flaredbv1.Region { return proto.CloneOf(s.state.GetRegion()) }

// AppliedIndex is the log index the snapshot's data reflects.
func (s *Snapshot) AppliedIndex() uint64 { return s.apply.GetAppliedIndex() }

// Close releases the engine snapshot.
func (s *Snapshot) Close() error { return s.view.Close() }

// WriteTo streams the snapshot to w.
func (s *Snapshot) WriteTo(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriter(w)
	crc := newCRC()
	sw := &snapWriter{w: io.MultiWriter(bw, crc)}
	sw.write([]byte(snapshotMagic))
	sw.message(s.state)
	sw.message(s.apply)
	region := s.state.GetRegion()
	err := s.view.ScanData(region.GetStartKey(), region.GetEndKey(), false, func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		sw.bytes(k)
		sw.bytes(v)
		return sw.err == nil, sw.err
	})
	if err != nil {
		return fmt.Errorf("write snapshot of region %d: %w", region.GetId(), err)
	}
	sw.uvarint(0)
	sw.write(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
	if sw.err != nil {
		return fmt.Errorf("write snapshot of region %d: %w", region.GetId(), sw.err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write snapshot of region %d: %w", region.GetId(), err)
	}
	return nil
}

// snapWriter writes the stream's framing, keeping the first error.
type snapWriter struct {
	w   io.Writer
	err error
	buf [binary.MaxVarintLen64]byte
}

func (sw *snapWriter) write(p []byte) {
	if sw.err == nil {
		_, sw.err = sw.w.Write(p)
	}
}

func (sw *snapWriter) uvarint(n uint64) { sw.write(sw.buf[:binary.PutUvarint(sw.buf[:], n)]) }

func (sw *snapWriter) bytes(p []byte) {
	sw.uvarint(uint64(len(p)))
	sw.write(p)
}

func (sw *snapWriter) message(m proto.Message) {
	raw, err := proto.Marshal(m)
	if err != nil && sw.err == nil {
		sw.err = err
	}
	sw.bytes(raw)
}
