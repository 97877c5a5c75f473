package totp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Recovery codes let a user who lost their authenticator sign in once per
// code. They are shown to the user exactly once, at generation; IAM stores
// only their hashes.
//
// # Why a plain SHA-256 is enough here
//
// Passwords need a slow, salted hash because people choose them from a small,
// guessable space. Recovery codes are chosen by crypto/rand: each is
// RecoveryCodeLength symbols from a 30-symbol alphabet, about 78.5 bits of
// entropy. Enumerating 2^78 candidates is out of reach even at GPU speeds for
// a fast hash (on the order of 10^10 SHA-256/s per device would still need
// about 10^6 device-years), so a slow hash would add cost to every login
// without adding protection, and a per-user salt would not help either since
// there are no precomputation-friendly low-entropy inputs. The hash input is
// domain-separated so these digests cannot be confused with any other
// SHA-256 in the system.
//
// The length is deliberately higher than the 10 characters some services
// use: 10 such symbols are only about 49 bits, which a stolen database plus
// a GPU could enumerate in hours when the hash is fast.

const (
	// RecoveryCodeLength is the number of symbols per code (excluding
	// separators).
	RecoveryCodeLength = 16
	// recoveryGroup is the number of symbols between '-' separators in the
	// displayed form, e.g. ABCD-EFGH-JKMN-PQRS.
	recoveryGroup = 4
	// DefaultRecoveryCodes is how many codes GenerateRecoveryCodes makes by
	// default.
	DefaultRecoveryCodes = 10
	// maxRecoveryCodes keeps a caller mistake from allocating a huge set.
	maxRecoveryCodes = 100
	// recoveryAlphabet omits 0/O, 1/I/L and U so codes survive being read
	// aloud or copied from paper; 30 symbols.
	recoveryAlphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
	// recoveryDomain separates recovery-code digests from other hashes.
	recoveryDomain = "photoncloud-iam/totp-recovery-code/v1\x00"
)

// ErrInvalidRecoveryCode is returned by NormalizeRecoveryCode for input that
// cannot be a recovery code.
var ErrInvalidRecoveryCode = errors.New("totp: invalid recovery code format")

// GenerateRecoveryCodes returns n new codes for display, and their hashes for
// storage, in the same order. n <= 0 means DefaultRecoveryCodes. The codes
// must be shown once and never stored or logged.
func GenerateRecoveryCodes(n int) (codes []string, hashes []string, err error) {
	if n <= 0 {
		n = DefaultRecoveryCodes
	}
	if n > maxRecoveryCodes {
		return nil, nil, fmt.Errorf("totp: %d recovery codes requested, maximum %d", n, maxRecoveryCodes)
	}
	codes = make([]string, 0, n)
	hashes = make([]string, 0, n)
	seen := make(map[string]bool, n)
	for len(codes) < n {
		raw, err := randomSymbols(RecoveryCodeLength)
		if err != nil {
			return nil, nil, err
		}
		// A repeat is astronomically unlikely; skipping it keeps "each code
		// is usable once" true even then.
		if seen[raw] {
			continue
		}
		seen[raw] = true
		codes = append(codes, group(raw))
		hashes = append(hashes, hashRecovery(raw))
	}
	return codes, hashes, nil
}

// randomSymbols draws n symbols uniformly from recoveryAlphabet. Bytes at or
// above the largest multiple of the alphabet size are rejected so that every
// symbol is equally likely (plain modulo would bias the first few).
func randomSymbols(n int) (string, error) {
	const limit = 256 - 256%len(recoveryAlphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("totp: generating recovery code: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, recoveryAlphabet[int(b)%len(recoveryAlphabet)])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

func group(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i += recoveryGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(raw[i:min(i+recoveryGroup, len(raw))])
	}
	return b.String()
}

// NormalizeRecoveryCode turns user input into the canonical symbol string:
// it upper-cases, drops '-' and white space, and checks length and alphabet.
func NormalizeRecoveryCode(input string) (string, error) {
	if len(input) > 4*RecoveryCodeLength {
		return "", ErrInvalidRecoveryCode
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(input) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r < 0x80 && strings.IndexByte(recoveryAlphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", ErrInvalidRecoveryCode
		}
	}
	if b.Len() != RecoveryCodeLength {
		return "", ErrInvalidRecoveryCode
	}
	return b.String(), nil
}

// HashRecoveryCode returns the stored form (hex SHA-256, domain-separated) of
// a code as the user might type it.
func HashRecoveryCode(input string) (string, error) {
	raw, err := NormalizeRecoveryCode(input)
	if err != nil {
		return "", err
	}
	return hashRecovery(raw), nil
}

func hashRecovery(raw string) string {
	sum := sha256.Sum256([]byte(recoveryDomain + raw))
	return hex.EncodeToString(sum[:])
}

// ConsumeRecoveryCode checks input against the stored hashes. If it matches,
// ok is true and remaining holds the other hashes, which the caller must
// persist in place of the old set; the code is then spent. Otherwise ok is
// false and remaining is a copy of hashes. The input slice is never modified.
//
// The caller must replace the stored set atomically (compare-and-set on the
// old value) so that two concurrent requests cannot both spend one code.
func ConsumeRecoveryCode(input string, hashes []string) (remaining []string, ok bool) {
	remaining = make([]string, 0, len(hashes))
	h, err := HashRecoveryCode(input)
	if err != nil {
		return append(remaining, hashes...), false
	}
	// Compare against every entry without stopping early; only the first
	// match is removed.
	matched := false
	for _, stored := range hashes {
		eq := subtle.ConstantTimeCompare([]byte(stored), []byte(h)) == 1
		if eq && !matched {
			matched = true
			continue
		}
		remaining = append(remaining, stored)
	}
	return remaining, matched
}
