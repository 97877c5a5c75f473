package token

import "errors"

// Verification errors. Verify wraps exactly one of these with detail; test
// with errors.Is. The first four can result from any input; the rest are only
// returned for tokens whose signature verified.
var (
	// ErrMalformed: not a well-formed compact JWS/JWT of this profile (too
	// large, bad encoding, bad JSON, missing required claims, critical
	// headers).
	ErrMalformed = errors.New("token: malformed")
	// ErrAlgorithm: the header's alg is not EdDSA.
	ErrAlgorithm = errors.New("token: algorithm not allowed")
	// ErrUnknownKey: no kid, or a kid the verifier does not hold (never
	// existed, pruned, or retired).
	ErrUnknownKey = errors.New("token: unknown signing key")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("token: bad signature")
	// ErrExpired: now is at or past exp (plus leeway).
	ErrExpired = errors.New("token: expired")
	// ErrNotYetValid: nbf or iat is in the future (beyond leeway).
	ErrNotYetValid = errors.New("token: not yet valid")
	// ErrIssuer: iss is not the expected issuer.
	ErrIssuer = errors.New("token: wrong issuer")
	// ErrAudience: aud does not contain the expected audience.
	ErrAudience = errors.New("token: wrong audience")
	// ErrTokenType: the token is not an access token (typ header or
	// token_use claim).
	ErrTokenType = errors.New("token: wrong token type")
)

// Issuing and keyring errors.
var (
	// ErrNoSigningKey: the active key is past its signing deadline; call
	// Rotate.
	ErrNoSigningKey = errors.New("token: no key may sign now (rotation overdue)")
	// ErrInvalidRequest: an issuing request is incomplete or out of bounds.
	ErrInvalidRequest = errors.New("token: invalid issuing request")
	// ErrInvalidKeyring: a serialised keyring or JWKS failed validation.
	ErrInvalidKeyring = errors.New("token: invalid keyring")
)
