package totp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var codeRE = regexp.MustCompile(`^[` + recoveryAlphabet + `]{4}(-[` + recoveryAlphabet + `]{4}){3}$`)

func TestGenerateRecoveryCodes(t *testing.T) {
	codes, hashes, err := GenerateRecoveryCodes(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != DefaultRecoveryCodes || len(hashes) != DefaultRecoveryCodes {
		t.Fatalf("got %d codes, %d hashes", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if !codeRE.MatchString(c) {
			t.Errorf("code %q has wrong shape", c)
		}
		if strings.ContainsAny(c, "01ILOU") {
			t.Errorf("code %q has ambiguous symbols", c)
		}
		if seen[c] {
			t.Errorf("duplicate code %q", c)
		}
		seen[c] = true
		h, err := HashRecoveryCode(c)
		if err != nil || h != hashes[i] {
			t.Errorf("hash mismatch for code %d", i)
		}
		if strings.Contains(hashes[i], strings.ReplaceAll(c, "-", "")) {
			t.Error("hash contains the code")
		}
		if len(hashes[i]) != 64 {
			t.Errorf("hash %q is not hex SHA-256", hashes[i])
		}
	}
	if _, _, err := GenerateRecoveryCodes(maxRecoveryCodes + 1); err == nil {
		t.Error("unbounded count accepted")
	}
}

func TestRecoveryAlphabetUniform(t *testing.T) {
	// Rough check that rejection sampling gives every symbol: 30 symbols,
	// 16000 draws, each expected ~533; a missing or heavily biased symbol
	// would stand out.
	s, err := randomSymbols(16000)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[rune]int{}
	for _, r := range s {
		counts[r]++
	}
	if len(counts) != len(recoveryAlphabet) {
		t.Fatalf("%d distinct symbols, want %d", len(counts), len(recoveryAlphabet))
	}
	for r, n := range counts {
		if n < 350 || n > 720 {
			t.Errorf("symbol %q drawn %d times", r, n)
		}
	}
}

func TestConsumeRecoveryCode(t *testing.T) {
	codes, hashes, err := GenerateRecoveryCodes(3)
	if err != nil {
		t.Fatal(err)
	}
	orig := slices.Clone(hashes)

	// User input variations normalise to the same code.
	typed := strings.ToLower(strings.ReplaceAll(codes[1], "-", " "))
	rem, ok := ConsumeRecoveryCode(typed, hashes)
	if !ok || len(rem) != 2 || slices.Contains(rem, hashes[1]) {
		t.Fatalf("consume: ok=%v remaining=%d", ok, len(rem))
	}
	if !slices.Equal(hashes, orig) {
		t.Fatal("input slice modified")
	}

	// Single use: the same code against the remaining set fails.
	rem2, ok := ConsumeRecoveryCode(codes[1], rem)
	if ok || !slices.Equal(rem2, rem) {
		t.Fatal("spent code accepted again")
	}
	// Other codes still work, in any order.
	rem3, ok := ConsumeRecoveryCode(codes[2], rem)
	if !ok || len(rem3) != 1 {
		t.Fatal("unspent code rejected")
	}
	rem4, ok := ConsumeRecoveryCode(codes[0], rem3)
	if !ok || len(rem4) != 0 {
		t.Fatal("last code rejected")
	}
	if _, ok := ConsumeRecoveryCode(codes[0], rem4); ok {
		t.Fatal("code accepted against empty set")
	}
}

func TestRecoveryCodeRejectsMalformed(t *testing.T) {
	_, hashes, _ := GenerateRecoveryCodes(2)
	for _, in := range []string{
		"", "ABCD", "ABCD-EFGH-JKMN-PQR", "ABCD-EFGH-JKMN-PQRST",
		"ABCD-EFGH-JKMN-PQR0", "ABCD-EFGH-JKMN-PQRO", "ABCD-EFGH-JKMN-PQRÉ",
		strings.Repeat("-", 1000) + "ABCDEFGHJKMNPQRS",
	} {
		if _, err := NormalizeRecoveryCode(in); !errors.Is(err, ErrInvalidRecoveryCode) {
			t.Errorf("NormalizeRecoveryCode(%q) = %v", in, err)
		}
		rem, ok := ConsumeRecoveryCode(in, hashes)
		if ok || !slices.Equal(rem, hashes) {
			t.Errorf("Consume(%q) = %v", in, ok)
		}
	}
	// A well-formed code that was never issued is just a miss.
	if _, ok := ConsumeRecoveryCode("ABCD-EFGH-JKMN-PQRS", hashes); ok {
		t.Error("unissued code accepted")
	}
}

func TestRecoveryHashDomainSeparated(t *testing.T) {
	// The stored digest is not the bare SHA-256 of the code, so it cannot be
	// matched against digests computed elsewhere for other purposes.
	h, err := HashRecoveryCode("abcd-efgh-jkmn-pqrs")
	if err != nil {
		t.Fatal(err)
	}
	bare := sha256.Sum256([]byte("ABCDEFGHJKMNPQRS"))
	if h == hex.EncodeToString(bare[:]) {
		t.Fatal("recovery hash is not domain-separated")
	}
	if h != hashRecovery("ABCDEFGHJKMNPQRS") {
		t.Fatal("normalisation changed the digest")
	}
}
