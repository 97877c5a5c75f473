package kvservice

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/internal/region"
	"github.com/photoncloud/core/flaredb/internal/store"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// outcome splits err into a region error for the response body or an RPC
// error with the right code.
func outcome(err error) (*flaredbv1.RegionError, error) {
	if err == nil {
		return nil, nil
	}
	if re, ok := region.AsRegionError(err); ok {
		return re, nil
	}
	return nil, rpcError(err)
}

func rpcError(err error) error {
	switch {
	case errors.Is(err, region.ErrInvalidArgument):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, ErrStoreBatchTooLarge):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, store.ErrOutcomeUnknown):
		return connect.NewError(connect.CodeUnavailable, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}
