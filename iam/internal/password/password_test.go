package password

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// cheap are fast parameters for tests; they must never be a default.
var cheap = Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newCheap(t testing.TB) *Hasher {
	t.Helper()
	h, err := New(Options{Params: cheap, AllowWeakParams: true})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDefaultsMeetOWASP(t *testing.T) {
	p := DefaultParams()
	if p.MemoryKiB < 19*1024 || p.Time < 2 || p.Threads < 1 {
		t.Fatalf("defaults %+v below OWASP argon2id minimum (19 MiB, t=2, p=1)", p)
	}
	if p.SaltLen != 16 || p.KeyLen != 32 {
		t.Fatalf("salt/key lengths %d/%d, want 16/32", p.SaltLen, p.KeyLen)
	}
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Params() != p {
		t.Fatalf("zero Options gave %+v, want defaults", h.Params())
	}
}

func TestWeakParamsRefusedUnlessAllowed(t *testing.T) {
	for _, p := range []Params{
		{MemoryKiB: 15 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32},
		{MemoryKiB: 19 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32},
		{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 16},
	} {
		if _, err := New(Options{Params: p}); !errors.Is(err, ErrWeakParams) {
			t.Errorf("New(%+v) err = %v, want ErrWeakParams", p, err)
		}
		if _, err := New(Options{Params: p, AllowWeakParams: true}); err != nil {
			t.Errorf("New(%+v, AllowWeakParams) err = %v", p, err)
		}
	}
	// Structurally invalid parameters are refused even when weak is allowed.
	if _, err := New(Options{Params: Params{MemoryKiB: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}, AllowWeakParams: true}); err == nil {
		t.Error("t=0 accepted")
	}
	// Stronger-than-default is fine without the escape hatch.
	if _, err := New(Options{Params: Params{MemoryKiB: 46 * 1024, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}}); err != nil {
		t.Errorf("stronger params refused: %v", err)
	}
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

func TestHashFormatAndRoundTrip(t *testing.T) {
	h := newCheap(t)
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	m := phcRE.FindStringSubmatch(enc)
	if m == nil {
		t.Fatalf("hash %q is not PHC argon2id", enc)
	}
	if m[1] != "64" || m[2] != "1" || m[3] != "1" {
		t.Fatalf("parameters not encoded: %q", enc)
	}
	if len(m[4]) != 22 || len(m[5]) != 43 { // 16 and 32 bytes, unpadded
		t.Fatalf("salt/key lengths wrong in %q", enc)
	}
	ok, err := h.Verify("correct horse battery staple", enc)
	if err != nil || !ok {
		t.Fatalf("Verify(correct) = %v, %v", ok, err)
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", "correct horse battery staple "} {
		ok, err := h.Verify(wrong, enc)
		if err != nil || ok {
			t.Errorf("Verify(%q) = %v, %v; want false, nil", wrong, ok, err)
		}
	}
}

func TestSaltIsRandomPerHash(t *testing.T) {
	h := newCheap(t)
	a, _ := h.Hash("same password")
	b, _ := h.Hash("same password")
	if a == b {
		t.Fatal("two hashes of the same password are identical: salt not random")
	}
}

// TestKnownAnswer checks interoperability with the Argon2 reference
// implementation: these PHC strings were produced by its command-line tool
// (Debian package "argon2", e.g. `echo -n password | argon2 0123456789abcdef
// -id -t 1 -m 6 -p 1 -l 32 -e`), not by this package. They catch parameter
// mix-ups (m and t swapped, wrong variant) and encoding differences.
func TestKnownAnswer(t *testing.T) {
	h := newCheap(t)
	vectors := []struct{ password, encoded string }{
		{"password", "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$c8unoZL1fMiTW9VzsIzI4XiLIjeYmhsk2dCIUg21RpY"},
		{"correct horse battery staple", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$ISO7kkvFzh19GM8qB7patN3C3Y9HHsjlVTfEZ9T600Y"},
	}
	for _, v := range vectors {
		ok, err := h.Verify(v.password, v.encoded)
		if !ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v", v.encoded, ok, err)
		}
		p, salt, key, err := decode(v.encoded)
		if err != nil {
			t.Fatal(err)
		}
		if got := encode(p, salt, key); got != v.encoded {
			t.Errorf("re-encoded as %q", got)
		}
	}
	// Our own encoder produces the same string for the same inputs.
	salt := []byte("0123456789abcdef")
	if got := encode(cheap, salt, h.derive([]byte("password"), salt, cheap)); got != vectors[0].encoded {
		t.Errorf("encode = %q, want %q", got, vectors[0].encoded)
	}
}

func TestVerifyUsesParamsFromHash(t *testing.T) {
	old, err := New(Options{Params: Params{MemoryKiB: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, AllowWeakParams: true})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := old.Hash("legacy password")
	cur := newCheap(t) // different m
	ok, err := cur.Verify("legacy password", enc)
	if !ok || err != nil {
		t.Fatalf("hash from older params did not verify: %v, %v", ok, err)
	}
}

func TestNeedsRehash(t *testing.T) {
	mk := func(p Params) *Hasher {
		h, err := New(Options{Params: p, AllowWeakParams: true})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	base := cheap
	cur := mk(base)
	enc, _ := cur.Hash("pw")
	if need, err := cur.NeedsRehash(enc); err != nil || need {
		t.Fatalf("same params: NeedsRehash = %v, %v", need, err)
	}

	cases := []struct {
		name string
		old  Params
		want bool
	}{
		{"lower memory", Params{MemoryKiB: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"higher memory", Params{MemoryKiB: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{"shorter salt", Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 32}, true},
		{"shorter key", Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 16}, true},
		{"more threads only", Params{MemoryKiB: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, false},
	}
	for _, c := range cases {
		e, _ := mk(c.old).Hash("pw")
		need, err := cur.NeedsRehash(e)
		if err != nil || need != c.want {
			t.Errorf("%s: NeedsRehash = %v, %v; want %v", c.name, need, err, c.want)
		}
	}
	// Policy raised in time: old hashes need rehash.
	stronger := mk(Params{MemoryKiB: 64, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32})
	if need, _ := stronger.NeedsRehash(enc); !need {
		t.Error("t raised, NeedsRehash = false")
	}
	// A hash made under the real OWASP minimum needs rehash from a cheap
	// hash: the important production case.
	if need, _ := mustDefault(t).NeedsRehash(enc); !need {
		t.Error("cheap hash under default policy: NeedsRehash = false")
	}
	if _, err := cur.NeedsRehash("garbage"); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("NeedsRehash(garbage) err = %v", err)
	}
}

func mustDefault(t *testing.T) *Hasher {
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestMalformedHashes(t *testing.T) {
	h := newCheap(t)
	good, _ := h.Hash("pw")
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	bad := map[string]string{
		"empty":          "",
		"bcrypt":         "$2a$10$abcdefghijklmnopqrstuuJ8Kq5KQwHnOD4v3yh8RPu6KDDKV1bkK",
		"argon2i":        "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"argon2d":        "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"old version":    "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"no version":     "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"param order":    "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"missing p":      "$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"extra param":    "$argon2id$v=19$m=64,t=1,p=1,k=2$" + salt + "$" + key,
		"zero t":         "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"leading zero":   "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key,
		"plus sign":      "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key,
		"negative":       "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key,
		"huge memory":    "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"huge time":      "$argon2id$v=19$m=64,t=100000,p=1$" + salt + "$" + key,
		"p overflow":     "$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key,
		"padded salt":    "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"urlsafe salt":   "$argon2id$v=19$m=64,t=1,p=1$" + strings.ReplaceAll(salt, "/", "_") + "_$" + key,
		"short salt":     "$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key,
		"short key":      "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA",
		"trailing field": good + "$x",
		"no leading $":   strings.TrimPrefix(good, "$"),
		"very long":      good + strings.Repeat("A", 1000),
	}
	for name, enc := range bad {
		ok, err := h.Verify("pw", enc)
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: Verify = %v, %v; want false, ErrMalformedHash", name, ok, err)
		}
	}
}

func TestTamperedHashFailsClosed(t *testing.T) {
	h := newCheap(t)
	enc, _ := h.Hash("pw")
	// Flip the last character of the key (keeping canonical base64).
	last := enc[len(enc)-2]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	tampered := enc[:len(enc)-2] + string(repl) + enc[len(enc)-1:]
	if ok, err := h.Verify("pw", tampered); ok || err != nil {
		t.Fatalf("tampered hash: Verify = %v, %v", ok, err)
	}
}

func TestOverlongPasswordRejected(t *testing.T) {
	h := newCheap(t)
	long := strings.Repeat("a", MaxPasswordBytes+1)
	if _, err := h.Hash(long); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash(long) err = %v", err)
	}
	enc, _ := h.Hash("pw")
	if ok, err := h.Verify(long, enc); ok || !errors.Is(err, ErrTooLong) {
		t.Errorf("Verify(long) = %v, %v", ok, err)
	}
	// Exactly at the limit is fine (256 four-byte runes).
	max := strings.Repeat("😀", MaxLength)
	if len(max) != MaxPasswordBytes {
		t.Fatalf("test setup: %d bytes", len(max))
	}
	enc, err := h.Hash(max)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify(max, enc); !ok {
		t.Error("max-length password did not verify")
	}
}

func TestDummyVerifyDoesEqualWork(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	// Use real default parameters: the point is that the unknown-user path
	// costs a full Argon2id evaluation, which dwarfs noise.
	h := mustDefault(t)
	enc, err := h.Hash("the real password")
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	var real, dummy time.Duration
	for range n {
		start := time.Now()
		_, _ = h.Verify("a wrong password", enc)
		real += time.Since(start)
		start = time.Now()
		h.DummyVerify("a wrong password")
		dummy += time.Since(start)
	}
	ratio := float64(dummy) / float64(real)
	t.Logf("verify %v, dummy %v per call (ratio %.2f)", real/n, dummy/n, ratio)
	// Wide bounds keep this stable on a loaded CI machine; a dummy that
	// skipped the Argon2id work would be thousands of times faster.
	if ratio < 0.25 || ratio > 4 {
		t.Errorf("DummyVerify cost ratio %.2f; want comparable to Verify", ratio)
	}
}

func TestConcurrencyBound(t *testing.T) {
	h, err := New(Options{Params: cheap, AllowWeakParams: true, MaxConcurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := h.Hash("pw")
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			pw := "pw"
			if i%2 == 1 {
				pw = fmt.Sprintf("wrong%d", i)
			}
			ok, err := h.Verify(pw, enc)
			if err != nil || ok != (i%2 == 0) {
				errs <- fmt.Errorf("goroutine %d: %v, %v", i, ok, err)
			}
			if len(h.sem) > cap(h.sem) {
				errs <- fmt.Errorf("semaphore over capacity")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkHashDefault(b *testing.B) {
	h, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.Hash("benchmark password"); err != nil {
			b.Fatal(err)
		}
	}
}
