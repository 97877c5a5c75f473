// Package token issues and verifies IAM's signed access tokens (JWTs) and
// manages the signing keys behind them.
//
// # Tokens
//
// Access tokens are compact JWS objects in the RFC 9068 profile: the header is
// {"alg":"EdDSA","kid":...,"typ":"at+jwt"} and the claims are iss, sub, aud,
// exp, iat, nbf, jti plus "token_use":"access" and optional scope, client_id
// and principal_kind. Ed25519 was chosen because signatures are small and
// fast, there are no parameters to get wrong (no curve or padding choices),
// and signing is deterministic so it does not depend on a good RNG at signing
// time. Standard clients (golang.org/x/oauth2, go-oidc) treat the token as
// opaque or verify it against the published JWKS.
//
// # Verification
//
// Verification is strict and ordered so that nothing an attacker controls is
// trusted before the signature has been checked (ASVS 9.1.1):
//
//  1. Size: tokens over MaxTokenBytes are refused before any decoding.
//  2. Syntax: exactly three base64url segments, canonical (no padding, no
//     white space, no non-zero trailing bits), so a token has one spelling.
//  3. Header: alg must be exactly "EdDSA". "none", the HS* family (including
//     the classic "HS256 keyed with the public key" confusion), RS*/ES* and
//     anything else are refused here, before any key is looked up. Headers
//     with "crit" are refused because no extension is understood.
//  4. Key: the kid must name a key this verifier holds. Keys are never taken
//     from the token (jwk, jku, x5u, x5c are ignored), so an attacker cannot
//     supply their own.
//  5. Signature: Ed25519 over the exact received bytes of header and
//     payload.
//  6. Claims, only now parsed: typ header and token_use must both say
//     "access token", iss must equal the expected issuer, aud must contain
//     the expected audience (string or array form, see CVE-2020-26160), and
//     exp/nbf/iat must hold with a small leeway.
//
// As a consequence, ErrMalformed, ErrAlgorithm, ErrUnknownKey and ErrSignature
// are the only errors an unauthenticated token can produce; every later error
// concerns a token this issuer really signed.
//
// The signature check is done with crypto/ed25519 directly rather than through
// a general JOSE parser: the accepted language is then just "one compact JWS
// with one algorithm", which leaves no room for alternative serialisations,
// unencoded payloads or embedded keys. go-jose is used for signing and for the
// JWK Set format, and the tests check that go-jose accepts what we issue.
//
// # Keys and rotation
//
// A Keyring holds Ed25519 keys identified by random, URL-safe kids. Exactly
// one key is active and signs new tokens; Rotate replaces it. A key that is no
// longer active is kept, and published in the JWKS, until no token it signed
// can still be valid: its last possible signing moment (when it was rotated
// out, or its signing deadline, whichever came first) plus the longest token
// lifetime the keyring allows. Prune removes keys past that point. The bound
// uses the rotation time rather than the time of the last token actually
// signed, so issuing does not have to write state for every token.
//
// Relying services should refetch the JWKS when they see an unknown kid (as
// go-oidc does), because a rotation makes new tokens carry a kid their cached
// set does not yet contain.
//
// The whole keyring, private keys included, serialises to JSON for the IAM
// store with Marshal and Unmarshal. That blob is secret: store it encrypted
// and never log it. Keyring's String method prints only key IDs, so an
// accidental %v does not leak key material.
package token
