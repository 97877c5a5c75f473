package totp

import (
	"encoding/base32"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func b32secret(s string) string { return b32.EncodeToString([]byte(s)) }

// RFC 6238 Appendix B test vectors (8 digits, 30 s, T0 = 0). The seeds are
// the ASCII strings given in the RFC, of the HMAC's natural key length for
// each hash (see RFC errata 2866 for the SHA-256/512 seeds).
func TestRFC6238Vectors(t *testing.T) {
	seeds := map[Algorithm]string{
		SHA1:   "12345678901234567890",
		SHA256: "12345678901234567890123456789012",
		SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	vectors := []struct {
		unix int64
		alg  Algorithm
		want string
	}{
		{59, SHA1, "94287082"},
		{59, SHA256, "46119246"},
		{59, SHA512, "90693936"},
		{1111111109, SHA1, "07081804"},
		{1111111109, SHA256, "68084774"},
		{1111111109, SHA512, "25091201"},
		{1111111111, SHA1, "14050471"},
		{1111111111, SHA256, "67062674"},
		{1111111111, SHA512, "99943326"},
		{1234567890, SHA1, "89005924"},
		{1234567890, SHA256, "91819424"},
		{1234567890, SHA512, "93441116"},
		{2000000000, SHA1, "69279037"},
		{2000000000, SHA256, "90698825"},
		{2000000000, SHA512, "38618901"},
		{20000000000, SHA1, "65353130"},
		{20000000000, SHA256, "77737706"},
		{20000000000, SHA512, "47863826"},
	}
	for _, v := range vectors {
		c := Config{Algorithm: v.alg, Digits: 8, Period: 30 * time.Second, Skew: 1}
		got, err := c.CodeAt(b32secret(seeds[v.alg]), time.Unix(v.unix, 0))
		if err != nil {
			t.Fatal(err)
		}
		if got != v.want {
			t.Errorf("T=%d %v: got %s, want %s", v.unix, v.alg, got, v.want)
		}
		// And Verify accepts it, returning the RFC's step counter.
		ctr, ok := c.Verify(b32secret(seeds[v.alg]), v.want, time.Unix(v.unix, 0), 0)
		if !ok || ctr != v.unix/30 {
			t.Errorf("T=%d %v: Verify = %d, %v; want %d, true", v.unix, v.alg, ctr, ok, v.unix/30)
		}
	}
}

// RFC 4226 Appendix D HOTP values for counters 0..9 (6 digits, SHA-1).
func TestRFC4226HOTPVectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	c := DefaultConfig()
	for i, w := range want {
		got, err := c.hotp([]byte("12345678901234567890"), int64(i))
		if err != nil || got != w {
			t.Errorf("counter %d: %s, %v; want %s", i, got, err, w)
		}
	}
}

func TestVerifyWindowAndReuse(t *testing.T) {
	secret, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	now := time.Unix(1_700_000_000, 0) // 20 s into its step
	cur := c.Counter(now)
	code := func(ctr int64) string {
		t.Helper()
		s, err := c.CodeAt(secret, time.Unix(ctr*30, 0))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Codes whose value happens to equal another step's in the window make
	// the window tests ambiguous; that happens with probability ~1e-5.
	seen := map[string]bool{}
	for d := int64(-2); d <= 2; d++ {
		if seen[code(cur+d)] {
			t.Skip("coincident codes in window; rerun")
		}
		seen[code(cur+d)] = true
	}

	for _, d := range []int64{-1, 0, 1} {
		ctr, ok := Verify(secret, code(cur+d), now, 0)
		if !ok || ctr != cur+d {
			t.Errorf("step %+d: Verify = %d, %v", d, ctr, ok)
		}
	}
	for _, d := range []int64{-2, 2} {
		if _, ok := Verify(secret, code(cur+d), now, 0); ok {
			t.Errorf("step %+d outside ±1 accepted", d)
		}
	}

	// Single use: after the current code is used, it and older codes fail,
	// but the next step's code still works.
	ctr, ok := Verify(secret, code(cur), now, 0)
	if !ok {
		t.Fatal("current code rejected")
	}
	if _, ok := Verify(secret, code(cur), now, ctr); ok {
		t.Error("replayed code accepted")
	}
	if _, ok := Verify(secret, code(cur-1), now, ctr); ok {
		t.Error("older code accepted after newer one was used")
	}
	if got, ok := Verify(secret, code(cur+1), now, ctr); !ok || got != cur+1 {
		t.Errorf("next code after use: %d, %v", got, ok)
	}
	// Replay a little later (next step) still fails.
	if _, ok := Verify(secret, code(cur), now.Add(30*time.Second), ctr); ok {
		t.Error("replay in the following step accepted")
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	secret, _ := GenerateSecret()
	now := time.Now()
	good, _ := DefaultConfig().CodeAt(secret, now)
	for _, code := range []string{"", "12345", "1234567", good + " ", " " + good, "12a456", "１２３４５６", "-12345"} {
		if _, ok := Verify(secret, code, now, 0); ok {
			t.Errorf("code %q accepted", code)
		}
	}
	for _, s := range []string{"", "not base32!", b32secret("short secret"), "A"} {
		if _, ok := Verify(s, good, now, 0); ok {
			t.Errorf("secret %q accepted", s)
		}
	}
	if _, ok := Verify(secret, good, time.Unix(-100, 0), -1000); ok {
		t.Error("pre-epoch time accepted")
	}
	bad := Config{Algorithm: SHA1, Digits: 5, Period: 30 * time.Second}
	if _, ok := bad.Verify(secret, good[:5], now, 0); ok {
		t.Error("invalid config accepted")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{Algorithm: SHA1, Digits: 5, Period: 30 * time.Second},
		{Algorithm: SHA1, Digits: 9, Period: 30 * time.Second},
		{Algorithm: SHA1, Digits: 6, Period: 0},
		{Algorithm: SHA1, Digits: 6, Period: 1500 * time.Millisecond},
		{Algorithm: SHA1, Digits: 6, Period: 30 * time.Second, Skew: 3},
		{Algorithm: SHA1, Digits: 6, Period: 30 * time.Second, Skew: -1},
		{Algorithm: Algorithm(9), Digits: 6, Period: 30 * time.Second},
	} {
		if err := c.validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := DefaultConfig().validate(); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateSecret(t *testing.T) {
	a, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateSecret()
	if a == b {
		t.Fatal("secrets repeat")
	}
	if strings.Contains(a, "=") || strings.ToUpper(a) != a || len(a) != 32 {
		t.Fatalf("secret %q not 32 upper-case unpadded base32 chars", a)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(a)
	if err != nil || len(key) != SecretSize {
		t.Fatalf("secret decodes to %d bytes, %v", len(key), err)
	}
	// DecodeSecret tolerates hand-typed forms.
	for _, s := range []string{strings.ToLower(a), a[:4] + " " + a[4:], a + "===="} {
		k, err := DecodeSecret(s)
		if err != nil || string(k) != string(key) {
			t.Errorf("DecodeSecret(%q) = %v", s, err)
		}
	}
	if _, err := DecodeSecret(b32secret("fifteen bytes!!")); !errors.Is(err, ErrInvalidSecret) {
		t.Errorf("short secret: %v", err)
	}
}

func TestCounterFloor(t *testing.T) {
	c := DefaultConfig()
	for _, tc := range []struct {
		unix int64
		want int64
	}{{0, 0}, {29, 0}, {30, 1}, {59, 1}, {60, 2}, {-1, -1}, {-30, -1}, {-31, -2}} {
		if got := c.Counter(time.Unix(tc.unix, 0)); got != tc.want {
			t.Errorf("Counter(%d) = %d, want %d", tc.unix, got, tc.want)
		}
	}
}

func TestProvisioningURI(t *testing.T) {
	secret := b32secret("12345678901234567890")
	got, err := ProvisioningURI(secret, "ACME Co", "john.doe@email.com")
	if err != nil {
		t.Fatal(err)
	}
	want := "otpauth://totp/ACME%20Co:john.doe%40email.com?secret=" + secret + "&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// The URI parses and round-trips the fields.
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("scheme/host = %q/%q", u.Scheme, u.Host)
	}
	if u.Path != "/ACME Co:john.doe@email.com" {
		t.Fatalf("label decodes to %q", u.Path)
	}
	q := u.Query()
	if q.Get("secret") != secret || q.Get("issuer") != "ACME Co" || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Fatalf("query %v", q)
	}

	// Characters that would break the URI structure are escaped.
	tricky, err := ProvisioningURI(secret, "Evil&Co/+?#", "a b+c&secret=AAAA")
	if err != nil {
		t.Fatal(err)
	}
	u, err = url.Parse(tricky)
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/Evil&Co/+?#:a b+c&secret=AAAA" {
		t.Errorf("label decodes to %q", u.Path)
	}
	q = u.Query()
	if len(q["secret"]) != 1 || q.Get("secret") != secret || q.Get("issuer") != "Evil&Co/+?#" {
		t.Errorf("query injection: %v", q)
	}
	if u.Fragment != "" {
		t.Errorf("fragment %q leaked", u.Fragment)
	}

	for _, c := range []struct{ iss, acct string }{
		{"", "a"}, {"a", ""}, {"Ev:il", "a"}, {"a", "b:c"}, {"a\n", "b"},
	} {
		if _, err := ProvisioningURI(secret, c.iss, c.acct); err == nil {
			t.Errorf("issuer %q account %q accepted", c.iss, c.acct)
		}
	}
	if _, err := ProvisioningURI("!!", "a", "b"); err == nil {
		t.Error("bad secret accepted")
	}
}

// TestProvisionedCodeMatches ties the URI to the verifier: the secret in the
// URI, decoded as an app would, produces codes Verify accepts.
func TestProvisionedCodeMatches(t *testing.T) {
	secret, _ := GenerateSecret()
	uri, _ := ProvisioningURI(secret, "PhotonCloud", "alice")
	u, _ := url.Parse(uri)
	appSecret := u.Query().Get("secret")
	now := time.Now()
	code, err := DefaultConfig().CodeAt(appSecret, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := Verify(secret, code, now, 0); !ok {
		t.Fatal("code from provisioned secret rejected")
	}
}
