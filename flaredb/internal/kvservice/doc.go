// Package kvservice serves a store's client API: the raw KV service and
// the admin service, as connect handlers over package store.
//
// Input is validated here first (region context, empty or oversized keys
// and values, batch sizes, inverted ranges) and answered with
// InvalidArgument before anything reaches a region. A request the store
// could not serve for routing reasons gets a typed RegionError in its
// response (not a gRPC error), as in TiKV, so clients repair their region
// cache and retry. A write whose outcome is unknown (leadership lost after
// it was appended) is Unavailable: the client must not assume either way.
package kvservice
