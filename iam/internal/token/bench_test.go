package token

import (
	"testing"
)

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkVerify measures single-core verification of a valid token with the
// keyring-backed verifier (parse, Ed25519 verify, claim checks).
func BenchmarkVerify(b *testing.B) {
	r := newRing(b)
	v := verifier(b, r, VerifyOptions{})
	tok := issue(b, r, t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok, t0, testIssuer, testAudience); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkVerifyJWKS is the same through a JWKS-backed verifier, as other
// services would run it.
func BenchmarkVerifyJWKS(b *testing.B) {
	r := newRing(b)
	v := jwksVerifier(b, r, VerifyOptions{})
	tok := issue(b, r, t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok, t0, testIssuer, testAudience); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkVerifyParallel shows throughput across all cores (the keyring's
// read lock is the only shared state).
func BenchmarkVerifyParallel(b *testing.B) {
	r := newRing(b)
	v := verifier(b, r, VerifyOptions{})
	tok := issue(b, r, t0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(tok, t0, testIssuer, testAudience); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkRejectAlgNone shows that hostile tokens are cheap to refuse: no
// signature work is done for them.
func BenchmarkRejectAlgNone(b *testing.B) {
	r := newRing(b)
	v := verifier(b, r, VerifyOptions{})
	kid, _ := activeKey(r)
	tok := enc(with(goodHeader(kid), "alg", "none")) + "." + enc(goodClaims(t0)) + "."
	for b.Loop() {
		if _, err := v.Verify(tok, t0, testIssuer, testAudience); err == nil {
			b.Fatal("accepted")
		}
	}
	reportRate(b)
}

func BenchmarkIssue(b *testing.B) {
	r := newRing(b)
	req := defaultRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.IssueAccessToken(t0, req); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}
