package password

import (
	"errors"
	"testing"
)

// FuzzDecode checks the PHC parser never panics, never accepts parameters
// outside the structural limits, and that anything it accepts re-encodes to
// the same string (one spelling per hash).
func FuzzDecode(f *testing.F) {
	h, err := New(Options{Params: cheap, AllowWeakParams: true})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := h.Hash("pw")
	f.Add(good)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decode(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if p.validate() != nil {
			t.Fatalf("accepted invalid params %+v", p)
		}
		if enc := encode(p, salt, key); enc != s {
			t.Fatalf("accepted %q which re-encodes as %q", s, enc)
		}
	})
}
