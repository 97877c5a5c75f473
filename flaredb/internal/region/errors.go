package region

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Limits on input, enforced before proposing and again at apply time.
const (
	// MaxKeySize is the largest key accepted (TiKV's default max-key-size).
	MaxKeySize = 8 << 10
	// MaxValueSize is the largest value accepted. It keeps a single Raft
	// entry well under the RPC size limit.
	MaxValueSize = 1 << 20
	// MaxScanLimit caps the pairs one Scan returns (client-go's limit).
	MaxScanLimit = 10240
	// MaxBatchKeys caps the keys of one batch request or write batch.
	MaxBatchKeys = 4096
)

// ErrInvalidArgument marks malformed input: it is never retried.
var ErrInvalidArgument = errors.New("invalid argument")

// Specific invalid-argument errors; each matches ErrInvalidArgument with
// errors.Is.
var (
	ErrEmptyKey       = fmt.Errorf("%w: empty key", ErrInvalidArgument)
	ErrKeyTooLarge    = fmt.Errorf("%w: key larger than %d bytes", ErrInvalidArgument, MaxKeySize)
	ErrValueTooLarge  = fmt.Errorf("%w: value larger than %d bytes", ErrInvalidArgument, MaxValueSize)
	ErrInvalidRange   = fmt.Errorf("%w: start key after end key", ErrInvalidArgument)
	ErrTooManyKeys    = fmt.Errorf("%w: more than %d keys in one request", ErrInvalidArgument, MaxBatchKeys)
	ErrMissingEpoch   = fmt.Errorf("%w: missing region epoch", ErrInvalidArgument)
	ErrInvalidCommand = fmt.Errorf("%w: invalid command", ErrInvalidArgument)
)

// Error is a region error: the request or command was not served by this
// region and the client should repair its routing and retry.
type Error struct {
	pb *flaredbv1.RegionError
}

// Error implements error.
func (e *Error) Error() string { return "region error: " + e.pb.GetMessage() }

// Proto returns the error as sent to clients.
func (e *Error) Proto() *flaredbv1.RegionError { return e.pb }

// AsRegionError returns the RegionError carried by err, if any.
func AsRegionError(err error) (*flaredbv1.RegionError, bool) {
	var re *Error
	if errors.As(err, &re) {
		return re.pb, true
	}
	return nil, false
}

func errEpochNotMatch(current *flaredbv1.Region, got *flaredbv1.RegionEpoch) *Error {
	return &Error{pb: &flaredbv1.RegionError{
		Message: fmt.Sprintf("epoch not match: region %d is at conf_ver %d version %d, request has conf_ver %d version %d",
			current.GetId(), current.GetEpoch().GetConfVer(), current.GetEpoch().GetVersion(),
			got.GetConfVer(), got.GetVersion()),
		Error: &flaredbv1.RegionError_EpochNotMatch{EpochNotMatch: &flaredbv1.EpochNotMatch{
			CurrentRegions: []*flaredbv1.Region{proto.CloneOf(current)},
		}},
	}}
}

func errKeyNotInRegion(key []byte, r *flaredbv1.Region) *Error {
	return &Error{pb: &flaredbv1.RegionError{
		Message: fmt.Sprintf("key %q not in region %d [%q, %q)", key, r.GetId(), r.GetStartKey(), r.GetEndKey()),
		Error: &flaredbv1.RegionError_KeyNotInRegion{KeyNotInRegion: &flaredbv1.KeyNotInRegion{
			Key: key, RegionId: r.GetId(), StartKey: r.GetStartKey(), EndKey: r.GetEndKey(),
		}},
	}}
}

func errRegionNotFound(id uint64) *Error {
	return &Error{pb: &flaredbv1.RegionError{
		Message: fmt.Sprintf("region %d not found", id),
		Error:   &flaredbv1.RegionError_RegionNotFound{RegionNotFound: &flaredbv1.RegionNotFound{RegionId: id}},
	}}
}

// NotLeaderError is the region error for a request sent to a replica that
// is not its region's leader; leader is a hint and may be nil.
func NotLeaderError(regionID uint64, leader *flaredbv1.Peer) *Error {
	msg := fmt.Sprintf("region %d: not leader", regionID)
	if leader != nil {
		msg += fmt.Sprintf(" (leader is peer %d on store %d)", leader.GetId(), leader.GetStoreId())
	}
	return &Error{pb: &flaredbv1.RegionError{
		Message: msg,
		Error:   &flaredbv1.RegionError_NotLeader{NotLeader: &flaredbv1.NotLeader{RegionId: regionID, Leader: proto.CloneOf(leader)}},
	}}
}

// RegionNotFoundError is the region error for a region this store does
// not host.
func RegionNotFoundError(regionID uint64) *Error { return errRegionNotFound(regionID) }

// ServerIsBusyError is the region error for load shedding: the client
// should retry after backoffMS.
func ServerIsBusyError(reason string, backoffMS uint64) *Error {
	return &Error{pb: &flaredbv1.RegionError{
		Message: "server is busy: " + reason,
		Error:   &flaredbv1.RegionError_ServerIsBusy{ServerIsBusy: &flaredbv1.ServerIsBusy{Reason: reason, BackoffMs: backoffMS}},
	}}
}
