package mvcc

import (
	"encoding/binary"
	"fmt"
)

// kvFormat is the first byte of every encoded KeyValue. A format byte costs
// one byte per record and lets a later release change the layout without
// guessing.
const kvFormat byte = 1

// encodeKV serialises kv as:
//
//	format(1) | uvarint len(key) | key | uvarint len(value) | value |
//	varint create | varint mod | varint version | varint lease
//
// Varints keep small revisions and versions small; the lengths make the
// record self-delimiting so decodeKV can reject truncation and trailing junk.
func encodeKV(kv *KeyValue) []byte {
	n := 1 + 2*binary.MaxVarintLen64 + len(kv.Key) + len(kv.Value) + 4*binary.MaxVarintLen64
	b := make([]byte, 0, n)
	b = append(b, kvFormat)
	b = binary.AppendUvarint(b, uint64(len(kv.Key)))
	b = append(b, kv.Key...)
	b = binary.AppendUvarint(b, uint64(len(kv.Value)))
	b = append(b, kv.Value...)
	b = binary.AppendVarint(b, kv.CreateRevision)
	b = binary.AppendVarint(b, kv.ModRevision)
	b = binary.AppendVarint(b, kv.Version)
	b = binary.AppendVarint(b, kv.Lease)
	return b
}

// decodeKV parses a record written by encodeKV. The result never aliases b
// (bbolt memory is only valid inside its transaction). Empty keys and values
// decode as nil, which is also how the store normalises them on write, so a
// value round-trips to a DeepEqual copy. Without withValue the value is
// skipped (keys-only reads, index rebuild) and never copied.
func decodeKV(b []byte, withValue bool) (KeyValue, error) {
	d := decoder{b: b}
	if f := d.byte(); f != kvFormat {
		return KeyValue{}, fmt.Errorf("%w: kv format %d", ErrCorrupt, f)
	}
	key := d.bytes()
	val := d.bytes()
	if !withValue {
		val = nil
	}
	kv := KeyValue{
		CreateRevision: d.varint(),
		ModRevision:    d.varint(),
		Version:        d.varint(),
		Lease:          d.varint(),
	}
	if d.err != nil {
		return KeyValue{}, d.err
	}
	if len(d.b) != 0 {
		return KeyValue{}, fmt.Errorf("%w: %d trailing bytes in kv", ErrCorrupt, len(d.b))
	}
	// One allocation for key and value; the three-index slices keep an
	// append on Key from overwriting Value.
	buf := make([]byte, len(key)+len(val))
	copy(buf, key)
	copy(buf[len(key):], val)
	if len(key) > 0 {
		kv.Key = buf[:len(key):len(key)]
	}
	if len(val) > 0 {
		kv.Value = buf[len(key):]
	}
	return kv, nil
}

// decoder consumes b front to back and remembers the first error, so
// decodeKV reads straight through and checks once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated kv at %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("format")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes() []byte {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.fail("length")
		return nil
	}
	out := d.b[k : k+int(n)]
	d.b = d.b[k+int(n):]
	return out
}

func (d *decoder) varint() int64 {
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[k:]
	return v
}
