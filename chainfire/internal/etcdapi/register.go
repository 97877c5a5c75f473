package etcdapi

import (
	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/member"
	"github.com/photoncloud/core/pkg/server"
	"github.com/photoncloud/core/proto/chainfire/v1/chainfirev1connect"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// Options tunes the API.
type Options struct {
	MaxTxnOps         int
	QuotaBackendBytes int64
	Watch             WatchOptions
}

// Register mounts etcd's six services and the member-to-member service on
// srv. Methods not implemented yet answer Unimplemented.
func Register(srv *server.Server, m *member.Member, opts Options) {
	if opts.MaxTxnOps <= 0 {
		opts.MaxTxnOps = DefaultMaxTxnOps
	}
	hopts := srv.HandlerOptions(connect.WithInterceptors(requireLeader{m}, newLearnerGuard(m)))
	srv.Mount(etcdserverpbconnect.NewKVHandler(&KV{m: m, maxTxnOps: opts.MaxTxnOps}, hopts...))
	srv.Mount(etcdserverpbconnect.NewMaintenanceHandler(&Maintenance{m: m, quota: opts.QuotaBackendBytes}, hopts...))
	srv.Mount(NewWatchHandler(m, opts.Watch, hopts...))
	srv.Mount(etcdserverpbconnect.NewLeaseHandler(&Lease{m: m}, hopts...))
	srv.Mount(etcdserverpbconnect.NewClusterHandler(&Cluster{m: m}, hopts...))
	srv.Mount(etcdserverpbconnect.NewAuthHandler(etcdserverpbconnect.UnimplementedAuthHandler{}, hopts...))
	srv.Mount(chainfirev1connect.NewMemberServiceHandler(memberService{m}, srv.HandlerOptions()...))
}
