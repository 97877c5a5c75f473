package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// MaxScanPage is the most pairs one Scan request to a store asks for (the
// store's own limit).
const MaxScanPage = 10240

// ScanOption changes what Scan returns.
type ScanOption func(*scanOptions)

type scanOptions struct {
	reverse  bool
	keysOnly bool
}

// Reverse returns keys in descending order: the greatest key below end
// first.
func Reverse() ScanOption { return func(o *scanOptions) { o.reverse = true } }

// KeysOnly returns keys without values.
func KeysOnly() ScanOption { return func(o *scanOptions) { o.keysOnly = true } }

// Scan returns the pairs in [start, end) in key order (descending with
// Reverse), at most limit of them (0: no limit). An empty start means the
// beginning of the key space and an empty end its end.
func (c *Client) Scan(ctx context.Context, start, end []byte, limit int, opts ...ScanOption) ([]KV, error) {
	var o scanOptions
	for _, opt := range opts {
		opt(&o)
	}
	if limit < 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("flaredb: negative scan limit"))
	}
	if len(end) > 0 && bytes.Compare(start, end) > 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("flaredb: scan start %q after end %q", start, end))
	}
	if len(end) > 0 && bytes.Equal(start, end) {
		return nil, nil
	}
	s := &scanner{c: c, start: start, end: end, limit: limit, opts: o}
	if o.reverse {
		return s.backward(ctx)
	}
	return s.forward(ctx)
}

type scanner struct {
	c          *Client
	start, end []byte
	limit      int
	opts       scanOptions
	out        []KV
}

// page is how many pairs the next request asks for.
func (s *scanner) page() uint32 {
	if s.limit == 0 {
		return MaxScanPage
	}
	return uint32(min(s.limit-len(s.out), MaxScanPage))
}

func (s *scanner) full() bool { return s.limit > 0 && len(s.out) >= s.limit }

// one scans [lo, hi) (clipped by the store to loc's range, which is what
// the caller chose them from) in the region found by find. It returns the
// region that served it and whether the page came back full.
func (s *scanner) one(ctx context.Context, find func(context.Context) (*location, error), bounds func(*location) (lo, hi []byte)) (*location, bool, error) {
	var pairs []*flaredbv1.KvPair
	want := s.page()
	loc, err := s.c.run(ctx, find, true, func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location) (*flaredbv1.RegionError, error) {
		lo, hi := bounds(loc)
		if len(hi) > 0 && bytes.Compare(lo, hi) >= 0 {
			pairs = nil // nothing of the range left in this region
			return nil, nil
		}
		r, err := kv.Scan(ctx, connect.NewRequest(&flaredbv1.ScanRequest{
			Context: loc.rpcContext(), StartKey: lo, EndKey: hi, Limit: want, Reverse: s.opts.reverse, KeysOnly: s.opts.keysOnly,
		}))
		if err != nil {
			return nil, err
		}
		pairs = r.Msg.GetPairs()
		return r.Msg.GetRegionError(), nil
	})
	if err != nil {
		return nil, false, err
	}
	for _, p := range pairs {
		s.out = append(s.out, KV{Key: p.GetKey(), Value: p.GetValue()})
	}
	return loc, uint32(len(pairs)) >= want, nil
}

// forward walks regions upwards from start. Each request covers
// [cur, min(end, region end)) of the region it was routed to; the store
// serves it only under the epoch it was routed with, so the region's range
// is exactly what the client assumed and the next region starts where this
// one ended: no key is read twice or skipped.
func (s *scanner) forward(ctx context.Context) ([]KV, error) {
	cur := s.start
	for {
		loc, fullPage, err := s.one(ctx,
			func(ctx context.Context) (*location, error) { return s.c.locate(ctx, cur) },
			func(loc *location) ([]byte, []byte) { return cur, minEnd(s.end, loc.region.GetEndKey()) })
		if err != nil {
			return nil, err
		}
		switch {
		case s.full():
			return s.out[:s.limit], nil
		case fullPage:
			cur = append(append([]byte(nil), s.out[len(s.out)-1].Key...), 0)
		case len(loc.region.GetEndKey()) == 0 || (len(s.end) > 0 && bytes.Compare(s.end, loc.region.GetEndKey()) <= 0):
			return s.out, nil
		default:
			cur = loc.region.GetEndKey()
		}
	}
}

// backward walks regions downwards from end, each request covering
// [max(start, region start), cur) of its region.
func (s *scanner) backward(ctx context.Context) ([]KV, error) {
	cur := s.end
	for {
		loc, fullPage, err := s.one(ctx,
			func(ctx context.Context) (*location, error) { return s.c.locateBefore(ctx, cur) },
			func(loc *location) ([]byte, []byte) { return maxStart(s.start, loc.region.GetStartKey()), cur })
		if err != nil {
			return nil, err
		}
		switch {
		case s.full():
			return s.out[:s.limit], nil
		case fullPage:
			cur = s.out[len(s.out)-1].Key
		case bytes.Compare(loc.region.GetStartKey(), s.start) <= 0:
			return s.out, nil
		default:
			cur = loc.region.GetStartKey()
		}
	}
}

// minEnd is the smaller of two exclusive ends (empty: unbounded).
func minEnd(a, b []byte) []byte {
	switch {
	case len(a) == 0:
		return b
	case len(b) == 0:
		return a
	case bytes.Compare(a, b) < 0:
		return a
	}
	return b
}

func maxStart(a, b []byte) []byte {
	if bytes.Compare(a, b) >= 0 {
		return a
	}
	return b
}

// DeleteRange deletes every key in [start, end), region by region. An
// empty start or end means the beginning or end of the key space.
func (c *Client) DeleteRange(ctx context.Context, start, end []byte) error {
	if len(end) > 0 && bytes.Compare(start, end) > 0 {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("flaredb: delete range start %q after end %q", start, end))
	}
	if len(end) > 0 && bytes.Equal(start, end) {
		return nil
	}
	cur := start
	for {
		loc, err := c.run(ctx, func(ctx context.Context) (*location, error) { return c.locate(ctx, cur) }, true,
			func(ctx context.Context, kv flaredbv1connect.KVServiceClient, loc *location) (*flaredbv1.RegionError, error) {
				r, err := kv.DeleteRange(ctx, connect.NewRequest(&flaredbv1.DeleteRangeRequest{
					Context: loc.rpcContext(), StartKey: cur, EndKey: minEnd(end, loc.region.GetEndKey()),
				}))
				if err != nil {
					return nil, err
				}
				return r.Msg.GetRegionError(), nil
			})
		if err != nil {
			return err
		}
		regionEnd := loc.region.GetEndKey()
		if len(regionEnd) == 0 || (len(end) > 0 && bytes.Compare(end, regionEnd) <= 0) {
			return nil
		}
		cur = regionEnd
	}
}
