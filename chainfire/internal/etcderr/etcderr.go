// Package etcderr is the catalogue of errors Chainfire returns on etcd's
// wire: each carries the gRPC code and the exact message etcd uses, because
// the etcd Go client recognises errors by their message text.
package etcderr

import (
	"errors"

	"connectrpc.com/connect"
)

// Error is an etcd API error: a gRPC code and etcd's message.
type Error struct {
	Code connect.Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Connect converts e into the error a connect handler returns.
func (e *Error) Connect() *connect.Error {
	return connect.NewError(e.Code, errors.New(e.Msg))
}

func def(code connect.Code, msg string) *Error { return &Error{Code: code, Msg: msg} }

// The errors, with etcd's codes and messages.
var (
	EmptyKey            = def(connect.CodeInvalidArgument, "etcdserver: key is not provided")
	KeyNotFound         = def(connect.CodeInvalidArgument, "etcdserver: key not found")
	ValueProvided       = def(connect.CodeInvalidArgument, "etcdserver: value is provided")
	LeaseProvided       = def(connect.CodeInvalidArgument, "etcdserver: lease is provided")
	TooManyOps          = def(connect.CodeInvalidArgument, "etcdserver: too many operations in txn request")
	DuplicateKey        = def(connect.CodeInvalidArgument, "etcdserver: duplicate key given in txn request")
	InvalidSortOpt      = def(connect.CodeInvalidArgument, "etcdserver: invalid sort option")
	RequestTooLarge     = def(connect.CodeInvalidArgument, "etcdserver: request is too large")
	Compacted           = def(connect.CodeOutOfRange, "etcdserver: mvcc: required revision has been compacted")
	FutureRev           = def(connect.CodeOutOfRange, "etcdserver: mvcc: required revision is a future revision")
	NoSpace             = def(connect.CodeResourceExhausted, "etcdserver: mvcc: database space exceeded")
	TooManyRequests     = def(connect.CodeResourceExhausted, "etcdserver: too many requests")
	LeaseNotFound       = def(connect.CodeNotFound, "etcdserver: requested lease not found")
	LeaseExist          = def(connect.CodeFailedPrecondition, "etcdserver: lease already exists")
	LeaseTTLTooLarge    = def(connect.CodeOutOfRange, "etcdserver: too large lease TTL")
	NoLeader            = def(connect.CodeUnavailable, "etcdserver: no leader")
	NotLeader           = def(connect.CodeFailedPrecondition, "etcdserver: not leader")
	LeaderChanged       = def(connect.CodeUnavailable, "etcdserver: leader changed")
	Stopped             = def(connect.CodeUnavailable, "etcdserver: server stopped")
	Timeout             = def(connect.CodeUnavailable, "etcdserver: request timed out")
	TimeoutLeaderFail   = def(connect.CodeUnavailable, "etcdserver: request timed out, possibly due to previous leader failure")
	Unhealthy           = def(connect.CodeUnavailable, "etcdserver: unhealthy cluster")
	LearnerNotSupported = def(connect.CodeFailedPrecondition, "etcdserver: rpc not supported for learner")
	WatchCanceled       = def(connect.CodeCanceled, "etcdserver: watch canceled")

	// Membership and maintenance.
	MemberExist          = def(connect.CodeFailedPrecondition, "etcdserver: member ID already exist")
	PeerURLExist         = def(connect.CodeFailedPrecondition, "etcdserver: Peer URLs already exists")
	MemberNotEnoughStart = def(connect.CodeFailedPrecondition, "etcdserver: re-configuration failed due to not enough started members")
	MemberBadURLs        = def(connect.CodeInvalidArgument, "etcdserver: given member URLs are invalid")
	MemberNotFound       = def(connect.CodeNotFound, "etcdserver: member not found")
	MemberNotLearner     = def(connect.CodeFailedPrecondition, "etcdserver: can only promote a learner member")
	LearnerNotReady      = def(connect.CodeFailedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader")
	TooManyLearners      = def(connect.CodeFailedPrecondition, "etcdserver: too many learner members in cluster")
	BadLeaderTransferee  = def(connect.CodeFailedPrecondition, "etcdserver: bad leader transferee")
	Corrupt              = def(connect.CodeDataLoss, "etcdserver: corrupt cluster")
)
