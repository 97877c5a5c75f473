package region

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Install replaces the region's state and data with a snapshot stream
// (Raft's Restore). The stream must be of this region.
func (r *Replica) Install(ctx context.Context, src io.Reader) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	id := r.ID()
	applied, _ := r.Applied()
	_, _, err := install(ctx, r.eng, src, func(st *flaredbv1.RegionLocalState, ap *flaredbv1.RegionApplyState) error {
		if st.GetRegion().GetId() != id {
			return fmt.Errorf("%w: snapshot of region %d installed into region %d", ErrBadSnapshot, st.GetRegion().GetId(), id)
		}
		if ap.GetAppliedIndex() < applied {
			// Installing it would roll back entries already applied.
			return fmt.Errorf("%w: snapshot at index %d is behind applied index %d", ErrBadSnapshot, ap.GetAppliedIndex(), applied)
		}
		return nil
	}, r.commitLocked)
	return err
}

// InstallNew creates a region on this store from a snapshot stream (a new
// peer added to a region). The engine must not hold a live replica of the
// region.
func InstallNew(ctx context.Context, eng *engine.Engine, src io.Reader) (*Replica, error) {
	st, ap, err := install(ctx, eng, src, func(*flaredbv1.RegionLocalState, *flaredbv1.RegionApplyState) error { return nil },
		func(b *engine.Batch, _ *flaredbv1.RegionLocalState, _ *flaredbv1.RegionApplyState) error {
			return b.Commit()
		})
	if err != nil {
		return nil, err
	}
	return newReplica(eng, st, ap), nil
}

// commitLocked commits an install batch under the write lock and publishes
// the installed state, like a split.
func (r *Replica) commitLocked(b *engine.Batch, st *flaredbv1.RegionLocalState, ap *flaredbv1.RegionApplyState) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := b.Commit(); err != nil {
		return err
	}
	r.publishLocked(st, ap)
	return nil
}

type commitFunc func(*engine.Batch, *flaredbv1.RegionLocalState, *flaredbv1.RegionApplyState) error

// install reads a stream into one batch — clear the snapshot region's
// span, write its pairs and state — and commits it only once the checksum
// has been verified, so a torn or corrupt stream changes nothing.
func install(ctx context.Context, eng *engine.Engine, src io.Reader, accept func(*flaredbv1.RegionLocalState, *flaredbv1.RegionApplyState) error, commit commitFunc) (*flaredbv1.RegionLocalState, *flaredbv1.RegionApplyState, error) {
	crc := newCRC()
	sr := &snapReader{r: bufio.NewReader(src), crc: crc}
	st, ap, err := sr.header()
	if err == nil {
		err = accept(st, ap)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("install snapshot: %w", err)
	}
	region := st.GetRegion()
	b := eng.NewBatch()
	defer func() { _ = b.Close() }()
	if err := b.DeleteDataRange(region.GetStartKey(), region.GetEndKey()); err != nil {
		return nil, nil, fmt.Errorf("install snapshot of region %d: %w", region.GetId(), err)
	}
	if err := sr.pairs(ctx, region, b); err != nil {
		return nil, nil, fmt.Errorf("install snapshot of region %d: %w", region.GetId(), err)
	}
	if err := writeRegion(b, st, ap); err != nil {
		return nil, nil, fmt.Errorf("install snapshot of region %d: %w", region.GetId(), err)
	}
	if err := commit(b, st, ap); err != nil {
		return nil, nil, fmt.Errorf("install snapshot of region %d: %w", region.GetId(), err)
	}
	return st, ap, nil
}

// snapReader parses the stream, feeding every byte before the trailer to
// the checksum.
type snapReader struct {
	r   *bufio.Reader
	crc hash.Hash32
}

func (sr *snapReader) ReadByte() (byte, error) {
	c, err := sr.r.ReadByte()
	if err == nil {
		_, _ = sr.crc.Write([]byte{c})
	}
	return c, err
}

func (sr *snapReader) full(n uint64, limit int) ([]byte, error) {
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: field of %d bytes", ErrBadSnapshot, n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(sr.r, p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	_, _ = sr.crc.Write(p)
	return p, nil
}

func (sr *snapReader) field(limit int) ([]byte, error) {
	n, err := binary.ReadUvarint(sr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	return sr.full(n, limit)
}

func (sr *snapReader) message(m proto.Message) error {
	raw, err := sr.field(1 << 20)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(raw, m); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	return nil
}

func (sr *snapReader) header() (*flaredbv1.RegionLocalState, *flaredbv1.RegionApplyState, error) {
	magic, err := sr.full(uint64(len(snapshotMagic)), len(snapshotMagic))
	if err != nil {
		return nil, nil, err
	}
	if string(magic) != snapshotMagic {
		return nil, nil, fmt.Errorf("%w: bad magic %q", ErrBadSnapshot, magic)
	}
	st, ap := &flaredbv1.RegionLocalState{}, &flaredbv1.RegionApplyState{}
	if err := sr.message(st); err != nil {
		return nil, nil, err
	}
	if err := sr.message(ap); err != nil {
		return nil, nil, err
	}
	region := st.GetRegion()
	if region.GetId() == 0 || region.GetEpoch() == nil {
		return nil, nil, fmt.Errorf("%w: no region", ErrBadSnapshot)
	}
	if end := region.GetEndKey(); len(end) > 0 && bytes.Compare(region.GetStartKey(), end) >= 0 {
		return nil, nil, fmt.Errorf("%w: empty or inverted range [%q, %q)", ErrBadSnapshot, region.GetStartKey(), end)
	}
	if st.GetState() != flaredbv1.PeerState_PEER_STATE_NORMAL {
		return nil, nil, fmt.Errorf("%w: region in state %v", ErrBadSnapshot, st.GetState())
	}
	return st, ap, nil
}

// pairs copies the stream's pairs into b, checking each key lies in the
// region, then verifies the trailer.
func (sr *snapReader) pairs(ctx context.Context, region *flaredbv1.Region, b *engine.Batch) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		key, err := sr.field(MaxKeySize)
		if err != nil {
			return err
		}
		if len(key) == 0 {
			return sr.trailer()
		}
		if !inRange(key, region.GetStartKey(), region.GetEndKey()) {
			return fmt.Errorf("%w: key %q outside region", ErrBadSnapshot, key)
		}
		val, err := sr.field(MaxValueSize)
		if err != nil {
			return err
		}
		if err := b.PutData(key, val); err != nil {
			return err
		}
	}
}

func (sr *snapReader) trailer() error {
	want := sr.crc.Sum32()
	var got [4]byte
	if _, err := io.ReadFull(sr.r, got[:]); err != nil {
		return fmt.Errorf("%w: trailer: %w", ErrBadSnapshot, err)
	}
	if binary.BigEndian.Uint32(got[:]) != want {
		return fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	return nil
}
