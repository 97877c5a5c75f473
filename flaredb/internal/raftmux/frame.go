package raftmux

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Session frames. After its 12-byte header a session connection carries
// frames in both directions:
//
//	type (1 byte) | stream id (4 bytes) | payload length (4 bytes) | payload
//
// Streams are opened by the dialling side only, so ids never collide.
const (
	frameOpen   byte = 1 // payload: region id (8 bytes)
	frameData   byte = 2 // payload: stream bytes
	frameClose  byte = 3 // no payload: the sender closed the stream
	frameWindow byte = 4 // payload: bytes of send credit returned (4 bytes)
)

const frameHeaderLen = 9

// maxFramePayload bounds one data frame; a larger Write is split.
const maxFramePayload = 256 << 10

// streamWindow is how many bytes a stream may have sent but not yet read
// by the remote side; the reader returns credit as it consumes. It keeps a
// slow stream (a snapshot being written to disk) from filling memory or
// stalling the other streams of the session.
const streamWindow = 4 << 20

// windowUpdateAt is how much a reader consumes before returning credit.
const windowUpdateAt = streamWindow / 4

var errProtocol = errors.New("raftmux: session protocol error")

func appendFrame(buf []byte, typ byte, id uint32, payload []byte) []byte {
	buf = append(buf, typ)
	buf = binary.BigEndian.AppendUint32(buf, id)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
	return append(buf, payload...)
}

// frame is one decoded frame.
type frame struct {
	typ     byte
	id      uint32
	payload []byte
}

// readFrame reads the next frame; the payload is freshly allocated (data
// payloads are handed to streams without another copy).
func readFrame(r *bufio.Reader) (frame, error) {
	var h [frameHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	f := frame{typ: h[0], id: binary.BigEndian.Uint32(h[1:5])}
	n := binary.BigEndian.Uint32(h[5:9])
	if err := checkFrame(f.typ, n); err != nil {
		return frame{}, err
	}
	if n > 0 {
		f.payload = make([]byte, n)
		if _, err := io.ReadFull(r, f.payload); err != nil {
			return frame{}, fmt.Errorf("raftmux: frame payload: %w", err)
		}
	}
	return f, nil
}

// checkFrame validates a frame header before its payload is read, so a
// corrupt length never allocates.
func checkFrame(typ byte, n uint32) error {
	var want uint32
	switch typ {
	case frameData:
		if n == 0 || n > maxFramePayload {
			return fmt.Errorf("%w: data frame of %d bytes", errProtocol, n)
		}
		return nil
	case frameOpen:
		want = 8
	case frameWindow:
		want = 4
	case frameClose:
		want = 0
	default:
		return fmt.Errorf("%w: frame type %d", errProtocol, typ)
	}
	if n != want {
		return fmt.Errorf("%w: frame type %d with %d bytes", errProtocol, typ, n)
	}
	return nil
}
