// Package iamsdk lets PhotonCloud services (and their clients) use IAM over
// Connect RPC.
//
// Clients: NewClientInterceptor attaches an access token to every call and
// refreshes it before it expires, from a user's refresh token
// (RefreshTokenSource) or a service account's client credentials
// (ClientCredentialsSource). When the context carries an originating
// subject (set by ServerInterceptor for the request being served), its token
// travels along in the OriginatingTokenHeader, so a service calling another
// on a user's behalf is checked as that user.
//
// Servers: ServerInterceptor verifies access tokens locally against IAM's
// JWKS (cached, refetched when an unknown kid shows up, so key rotation is
// followed), maps each procedure to a permission and a resource with a
// function the service supplies, and asks IAM's AuthzService whether the
// subject may proceed, caching answers for at most CacheTTL. When IAM cannot
// be reached and no cached answer younger than CacheTTL exists, the call
// fails with Unavailable: the interceptor never fails open.
//
// HTTP1Client carries unary calls such as Authorize over pooled HTTP/1.1
// keep-alive connections without net/http's Transport; over loopback it
// halves the client's and IAM's CPU per call compared with HTTP/2.
package iamsdk
