// Package totp implements time-based one-time passwords (RFC 6238) for IAM's
// second factor, together with the enrolment URI and single-use recovery
// codes.
//
// # Codes
//
// A code is HOTP (RFC 4226) over the time step counter
// floor(unix_time / period). The defaults are those every authenticator app
// supports: HMAC-SHA-1, 6 digits, 30-second steps (ASVS 6.5.5 asks for a
// lifetime of at most 30 s). Verification accepts the current step and one
// step either side to absorb clock drift between the phone and the server and
// the time the user takes to type.
//
// # Single use
//
// ASVS 6.5.1 requires that a code cannot be used twice. Verify therefore
// returns the counter of the step that matched and refuses any step at or
// below lastUsedCounter. The caller persists the returned counter; with the
// ±1 window this also means a code cannot be replayed on another replica, as
// long as the caller updates the stored counter atomically (compare-and-set
// on the old value) so two concurrent logins cannot both succeed.
//
// The server's clock is the trusted time source (ASVS 6.5.8): callers pass
// now explicitly so tests and the store can control it.
//
// A 6-digit code with a 3-step window gives an online guesser 3 in a million
// per attempt, so the caller MUST rate-limit TOTP attempts per account.
//
// # Secrets
//
// Secrets are 20 bytes (160 bits, the length RFC 4226 recommends) from
// crypto/rand, exchanged as unpadded upper-case base32, which is what
// authenticator apps expect in the otpauth:// URI. Secrets are key material: store them encrypted and never
// log them.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"
)

// Algorithm selects the HMAC hash. RFC 6238 allows SHA-1, SHA-256 and
// SHA-512; many authenticator apps silently use SHA-1 whatever the URI says,
// so anything but the default should only be used with known-good clients.
type Algorithm int

const (
	SHA1 Algorithm = iota
	SHA256
	SHA512
)

// String returns the name used in otpauth:// URIs.
func (a Algorithm) String() string {
	switch a {
	case SHA1:
		return "SHA1"
	case SHA256:
		return "SHA256"
	case SHA512:
		return "SHA512"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

func (a Algorithm) hash() (func() hash.Hash, error) {
	switch a {
	case SHA1:
		return sha1.New, nil
	case SHA256:
		return sha256.New, nil
	case SHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("totp: unknown algorithm %d", int(a))
}

const (
	// SecretSize is the number of random bytes in a generated secret.
	SecretSize = 20
	// MinSecretSize is RFC 4226's minimum shared-secret length (128 bits).
	MinSecretSize = 16
	// DefaultPeriod is the RFC 6238 default time step.
	DefaultPeriod = 30 * time.Second
	// DefaultDigits is the code length authenticator apps default to.
	DefaultDigits = 6
	// DefaultSkew is the number of steps accepted either side of now.
	DefaultSkew = 1
	// maxSkew bounds the window; wider windows mostly help attackers.
	maxSkew = 2
)

// ErrInvalidSecret is returned when a secret cannot be decoded or is too short.
var ErrInvalidSecret = errors.New("totp: invalid secret")

// Config holds TOTP parameters. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	Algorithm Algorithm
	Digits    int           // 6 to 8
	Period    time.Duration // whole seconds, at least 1 s
	Skew      int           // steps accepted either side of now, 0 to 2
}

// DefaultConfig returns SHA-1, 6 digits, 30 s, ±1 step.
func DefaultConfig() Config {
	return Config{Algorithm: SHA1, Digits: DefaultDigits, Period: DefaultPeriod, Skew: DefaultSkew}
}

func (c Config) validate() error {
	if _, err := c.Algorithm.hash(); err != nil {
		return err
	}
	if c.Digits < 6 || c.Digits > 8 {
		return fmt.Errorf("totp: digits %d outside [6,8]", c.Digits)
	}
	if c.Period < time.Second || c.Period%time.Second != 0 {
		return fmt.Errorf("totp: period %v must be a whole number of seconds", c.Period)
	}
	if c.Skew < 0 || c.Skew > maxSkew {
		return fmt.Errorf("totp: skew %d outside [0,%d]", c.Skew, maxSkew)
	}
	return nil
}

// b32 is the secret encoding: RFC 4648 base32, upper case, no padding.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// GenerateSecret returns a new random secret, base32-encoded without padding.
func GenerateSecret() (string, error) {
	key := make([]byte, SecretSize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("totp: generating secret: %w", err)
	}
	return b32.EncodeToString(key), nil
}

// DecodeSecret decodes a base32 secret. It tolerates lower case, spaces and
// trailing '=' padding because users sometimes retype secrets by hand, and
// refuses secrets shorter than MinSecretSize bytes.
func DecodeSecret(secret string) ([]byte, error) {
	s := strings.ToUpper(strings.ReplaceAll(secret, " ", ""))
	s = strings.TrimRight(s, "=")
	key, err := b32.DecodeString(s)
	if err != nil {
		// The decoder error includes an offset, not the secret.
		return nil, fmt.Errorf("%w: %v", ErrInvalidSecret, err)
	}
	if len(key) < MinSecretSize {
		return nil, fmt.Errorf("%w: %d bytes, minimum %d", ErrInvalidSecret, len(key), MinSecretSize)
	}
	return key, nil
}

// Counter returns the time step counter for t. It is negative before the
// Unix epoch; such times are never accepted.
func (c Config) Counter(t time.Time) int64 {
	secs := t.Unix()
	step := int64(c.Period / time.Second)
	// Floor division so that the step boundary is exact for negative times
	// too (Go's / truncates toward zero).
	q := secs / step
	if secs%step < 0 {
		q--
	}
	return q
}

// hotp computes the RFC 4226 value for counter.
func (c Config) hotp(key []byte, counter int64) (string, error) {
	newHash, err := c.Algorithm.hash()
	if err != nil {
		return "", err
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	mac := hmac.New(newHash, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	// Dynamic truncation (RFC 4226 §5.3).
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range c.Digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", c.Digits, bin%mod), nil
}

// CodeAt returns the code for the step containing t. It is exported for
// tests, enrolment checks and tooling; production verification goes through
// Verify.
func (c Config) CodeAt(secret string, t time.Time) (string, error) {
	if err := c.validate(); err != nil {
		return "", err
	}
	key, err := DecodeSecret(secret)
	if err != nil {
		return "", err
	}
	return c.hotp(key, c.Counter(t))
}

// Verify checks code against secret at time now, accepting steps within
// c.Skew of now whose counter is greater than lastUsedCounter. On success it
// returns the matched counter, which the caller must store as the new
// lastUsedCounter (pass 0 for a factor that has never been used). Any
// malformed input yields ok == false.
//
// When more than one step in the window matches (a 1-in-10^digits
// coincidence), the earliest acceptable one is returned so fewer future codes
// are burnt.
func (c Config) Verify(secret, code string, now time.Time, lastUsedCounter int64) (counter int64, ok bool) {
	if c.validate() != nil || len(code) != c.Digits || !allDigits(code) {
		return 0, false
	}
	key, err := DecodeSecret(secret)
	if err != nil {
		return 0, false
	}
	cur := c.Counter(now)
	if cur < 0 {
		return 0, false
	}
	// Every step in the window is computed and compared in constant time,
	// and the loop does not exit early, so timing reveals neither which step
	// matched nor how much of the code was right.
	found := int64(-1)
	for i := -int64(c.Skew); i <= int64(c.Skew); i++ {
		ctr := cur + i
		if ctr < 0 {
			continue
		}
		want, err := c.hotp(key, ctr)
		if err != nil {
			return 0, false
		}
		match := subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1
		if match && ctr > lastUsedCounter && found < 0 {
			found = ctr
		}
	}
	if found < 0 {
		return 0, false
	}
	return found, true
}

// Verify checks code with DefaultConfig; see Config.Verify.
func Verify(secret, code string, now time.Time, lastUsedCounter int64) (counter int64, ok bool) {
	return DefaultConfig().Verify(secret, code, now, lastUsedCounter)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
