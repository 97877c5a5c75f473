// Package password hashes, verifies and vets user passwords for IAM.
//
// # Hashing
//
// Passwords are hashed with Argon2id, the first choice of the OWASP Password
// Storage Cheat Sheet. The default cost is the cheat sheet's current minimum
// (m = 19 MiB, t = 2, p = 1) with a fresh 16-byte salt from crypto/rand and a
// 32-byte derived key per hash. Hashes are stored as PHC strings
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// (salt and key in unpadded standard base64) so that every hash carries the
// parameters it was made with. That lets the policy be raised later without a
// flag day: Verify uses the parameters in the string, and NeedsRehash tells
// the login path when a successful login should re-hash the password under the
// current policy.
//
// Verification compares derived keys with crypto/subtle so that the time taken
// does not depend on how many leading bytes matched. DummyVerify performs the
// same Argon2id work as a real verification and is meant for the "no such
// user" branch of a login, so that response time does not reveal whether an
// account exists (ASVS 6.3.8).
//
// Argon2id is deliberately memory-hard, so each concurrent hash holds m bytes
// of RAM. A Hasher bounds the number of hashes it runs at once (by default to
// GOMAXPROCS; the work is CPU-bound so more parallelism would not raise
// throughput) so that a flood of login attempts queues instead of exhausting
// memory. Callers should still rate-limit logins per account and per source.
//
// Decoding refuses parameters above generous ceilings (see MaxMemoryKiB and
// friends) so a tampered or corrupt hash in the database cannot make a single
// verification allocate gigabytes.
//
// # Policy
//
// CheckPolicy applies the account-creation rules: 8 to 256 characters
// (counted as Unicode code points), valid UTF-8, and not on the embedded list
// of common passwords (ASVS 6.2.1, 6.2.4, 6.2.9). See policy.go.
//
// No pepper is applied: golang.org/x/crypto/argon2 does not expose Argon2's
// secret input, and a pepper would need key management of its own. OWASP
// lists it as optional defence in depth.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Current OWASP minimum for Argon2id (Password Storage Cheat Sheet, current
// revision: "at least 19 MiB memory, t=2, p=1"). Older copies of the cheat
// sheet quoted 15 MiB; 19 MiB is the figure in force.
const (
	// DefaultMemoryKiB is the Argon2id memory cost in KiB (19 MiB).
	DefaultMemoryKiB uint32 = 19 * 1024
	// DefaultTime is the Argon2id number of passes.
	DefaultTime uint32 = 2
	// DefaultThreads is the Argon2id degree of parallelism.
	DefaultThreads uint8 = 1
	// DefaultSaltLen is the salt length in bytes. 16 bytes (128 bits) makes
	// salt collisions across any realistic user base negligible.
	DefaultSaltLen uint32 = 16
	// DefaultKeyLen is the derived key length in bytes (256 bits).
	DefaultKeyLen uint32 = 32
)

// Ceilings applied when decoding a stored hash. They are far above any
// sensible policy and exist only to bound the cost of a single verification
// if the stored string was corrupted or tampered with.
const (
	MaxMemoryKiB uint32 = 1024 * 1024 // 1 GiB
	MaxTime      uint32 = 64
	MaxThreads   uint8  = 64
	minSaltLen          = 8
	maxSaltLen          = 64
	minKeyLen           = 16
	maxKeyLen           = 64
)

// MaxPasswordBytes bounds the input accepted by Hash and Verify. The policy
// allows at most MaxLength code points and a UTF-8 code point is at most 4
// bytes, so no password that passed CheckPolicy is longer than this. The bound
// keeps an attacker from making the server pre-hash megabytes per attempt.
const MaxPasswordBytes = MaxLength * 4

// phcID is the PHC algorithm identifier for Argon2id.
const phcID = "argon2id"

// Errors returned while hashing or verifying. Policy errors live in policy.go.
var (
	// ErrMalformedHash means a stored hash is not a PHC string this package
	// understands (wrong algorithm, version, syntax or out-of-range values).
	ErrMalformedHash = errors.New("password: malformed hash")
	// ErrWeakParams means the requested Argon2id parameters are below the
	// OWASP minimum and Options.AllowWeakParams was not set.
	ErrWeakParams = errors.New("password: argon2id parameters below policy minimum")
)

// Params are Argon2id cost parameters.
type Params struct {
	MemoryKiB uint32 // m, in KiB
	Time      uint32 // t, number of passes
	Threads   uint8  // p, lanes
	SaltLen   uint32 // bytes of random salt per hash
	KeyLen    uint32 // bytes of derived key
}

// DefaultParams returns the OWASP-recommended minimum parameters.
func DefaultParams() Params {
	return Params{
		MemoryKiB: DefaultMemoryKiB,
		Time:      DefaultTime,
		Threads:   DefaultThreads,
		SaltLen:   DefaultSaltLen,
		KeyLen:    DefaultKeyLen,
	}
}

// validate checks structural limits that hold whatever the policy.
func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("time %d outside [1,%d]", p.Time, MaxTime)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("threads %d outside [1,%d]", p.Threads, MaxThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxMemoryKiB:
		// Argon2 needs at least 8 KiB per lane.
		return fmt.Errorf("memory %d KiB outside [%d,%d]", p.MemoryKiB, 8*uint32(p.Threads), MaxMemoryKiB)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d outside [%d,%d]", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d outside [%d,%d]", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// weakerThan reports whether p is below q in any dimension that affects an
// attacker's cost per guess. Threads are ignored on purpose: Argon2id's memory
// and pass counts set the attacker's work, while lanes only change how the
// defender spreads it across cores.
func (p Params) weakerThan(q Params) bool {
	return p.MemoryKiB < q.MemoryKiB || p.Time < q.Time ||
		p.SaltLen < q.SaltLen || p.KeyLen < q.KeyLen
}

// Options configure a Hasher. The zero value selects DefaultParams.
type Options struct {
	// Params overrides the hashing parameters. A zero Params means
	// DefaultParams.
	Params Params
	// AllowWeakParams permits Params below the OWASP minimum. It exists so
	// tests can run fast; production code must leave it false.
	AllowWeakParams bool
	// MaxConcurrency bounds simultaneous Argon2id computations. Zero means
	// runtime.GOMAXPROCS(0).
	MaxConcurrency int
}

// Hasher hashes and verifies passwords under one parameter policy. It is safe
// for concurrent use.
type Hasher struct {
	params Params
	// sem bounds concurrent Argon2id runs to cap memory use (see package doc).
	sem chan struct{}
	// dummySalt and dummyKey are what DummyVerify hashes against. They are
	// random per Hasher so there is nothing fixed to precompute against.
	dummySalt []byte
	dummyKey  []byte
}

// New returns a Hasher for opts.
func New(opts Options) (*Hasher, error) {
	p := opts.Params
	if p == (Params{}) {
		p = DefaultParams()
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("password: invalid params: %w", err)
	}
	if !opts.AllowWeakParams && p.weakerThan(DefaultParams()) {
		return nil, fmt.Errorf("%w: m=%d t=%d salt=%d key=%d", ErrWeakParams, p.MemoryKiB, p.Time, p.SaltLen, p.KeyLen)
	}
	n := opts.MaxConcurrency
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: p, sem: make(chan struct{}, n)}

	h.dummySalt = make([]byte, p.SaltLen)
	if _, err := rand.Read(h.dummySalt); err != nil {
		return nil, fmt.Errorf("password: generating dummy salt: %w", err)
	}
	dummyPassword := make([]byte, 32)
	if _, err := rand.Read(dummyPassword); err != nil {
		return nil, fmt.Errorf("password: generating dummy password: %w", err)
	}
	h.dummyKey = h.derive(dummyPassword, h.dummySalt, p)
	return h, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// derive runs Argon2id under the concurrency bound.
func (h *Hasher) derive(password, salt []byte, p Params) []byte {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	return argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
}

// Hash returns a PHC-encoded Argon2id hash of password with a fresh random
// salt. It does not apply the password policy; call CheckPolicy first when the
// password is being chosen.
func (h *Hasher) Hash(password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", fmt.Errorf("password: hash: %w: %d bytes exceeds %d", ErrTooLong, len(password), MaxPasswordBytes)
	}
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: generating salt: %w", err)
	}
	key := h.derive([]byte(password), salt, h.params)
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches the PHC-encoded hash. A mismatch is
// (false, nil); an error means the hash could not be used (or the password
// exceeds MaxPasswordBytes) and the login must fail. The comparison of derived
// keys is constant-time.
func (h *Hasher) Verify(password, encoded string) (bool, error) {
	if len(password) > MaxPasswordBytes {
		return false, fmt.Errorf("password: verify: %w: %d bytes exceeds %d", ErrTooLong, len(password), MaxPasswordBytes)
	}
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := h.derive([]byte(password), salt, p)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// DummyVerify spends the same Argon2id work as Verify against a hash made with
// the Hasher's current parameters, and always fails. Call it when the account
// does not exist (or has no password) so that an unknown user costs as much
// time as a wrong password.
//
// The equality holds for users whose stored hash uses the current parameters;
// hashes made under an older, cheaper policy verify faster until NeedsRehash
// has upgraded them.
func (h *Hasher) DummyVerify(password string) {
	if len(password) > MaxPasswordBytes {
		// Mirror Verify, which rejects these before hashing.
		return
	}
	got := h.derive([]byte(password), h.dummySalt, h.params)
	// The result is discarded; the comparison is here so the dummy path
	// does the same steps as the real one.
	_ = subtle.ConstantTimeCompare(got, h.dummyKey)
}

// NeedsRehash reports whether encoded was made with parameters weaker than the
// Hasher's policy. Call it after a successful Verify and, if true, store
// Hash(password) in its place. A malformed hash returns an error.
func (h *Hasher) NeedsRehash(encoded string) (bool, error) {
	p, _, _, err := decode(encoded)
	if err != nil {
		return false, err
	}
	return p.weakerThan(h.params), nil
}

// encode renders a PHC string.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$%s$v=%d$m=%d,t=%d,p=%d$%s$%s",
		phcID, argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// b64 is the PHC encoding: standard alphabet, no padding. Strict decoding
// rejects non-zero trailing bits so each hash has exactly one spelling.
var b64 = base64.RawStdEncoding.Strict()

// decode parses and bounds-checks a PHC Argon2id string. It accepts exactly
// the form encode produces: fields in the order m,t,p and no optional
// keyid/data fields, because nothing else ever writes these hashes.
func decode(encoded string) (Params, []byte, []byte, error) {
	fail := func(format string, a ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, fmt.Sprintf(format, a...))
	}
	// Stored hashes are short; anything long is not ours and is rejected
	// before any work is done on it.
	if len(encoded) > 512 {
		return fail("%d bytes is too long", len(encoded))
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("want 5 '$'-separated fields")
	}
	if parts[1] != phcID {
		return fail("algorithm %q is not %s", parts[1], phcID)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("unsupported version field %q", parts[2])
	}

	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return fail("want parameters m,t,p")
	}
	m, err := parseParam(kv[0], "m", 32)
	if err != nil {
		return fail("%v", err)
	}
	t, err := parseParam(kv[1], "t", 32)
	if err != nil {
		return fail("%v", err)
	}
	th, err := parseParam(kv[2], "p", 8)
	if err != nil {
		return fail("%v", err)
	}

	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return fail("salt: %v", err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return fail("key: %v", err)
	}
	p := Params{
		MemoryKiB: uint32(m),
		Time:      uint32(t),
		Threads:   uint8(th),
		SaltLen:   uint32(len(salt)),
		KeyLen:    uint32(len(key)),
	}
	if err := p.validate(); err != nil {
		return fail("%v", err)
	}
	return p, salt, key, nil
}

// parseParam parses "name=value" with an unsigned decimal value of at most
// bits bits. Leading zeros and signs are refused so each value has one
// spelling.
func parseParam(s, name string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, fmt.Errorf("want %s=", name)
	}
	if v == "" || (len(v) > 1 && v[0] == '0') || v[0] == '+' {
		return 0, fmt.Errorf("bad %s value %q", name, v)
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("bad %s value %q", name, v)
	}
	return n, nil
}
