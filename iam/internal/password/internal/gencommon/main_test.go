package main

import (
	"os"
	"strings"
	"testing"
)

// TestEmbeddedListIsCurrent fails when someone edits the generator without
// regenerating the embedded file (or edits the file by hand).
func TestEmbeddedListIsCurrent(t *testing.T) {
	got, err := os.ReadFile("../../common_passwords.txt")
	if err != nil {
		t.Fatal(err)
	}
	if want := render(generate()); string(got) != want {
		t.Fatal("common_passwords.txt is stale: run `go generate` in iam/internal/password")
	}
}

func TestGenerateProperties(t *testing.T) {
	entries := generate()
	if len(entries) < 3000 {
		t.Fatalf("only %d entries; ASVS 6.2.4 asks for at least the top 3000", len(entries))
	}
	seen := map[string]bool{}
	for i, e := range entries {
		if len([]rune(e)) < minLen {
			t.Errorf("entry %q shorter than %d", e, minLen)
		}
		if e != strings.ToLower(e) || strings.TrimSpace(e) != e || strings.HasPrefix(e, "#") {
			t.Errorf("entry %q is not normalised", e)
		}
		if seen[e] {
			t.Errorf("duplicate %q", e)
		}
		seen[e] = true
		if i > 0 && entries[i-1] >= e {
			t.Errorf("not sorted at %q", e)
		}
	}
	for _, must := range []string{"password", "12345678", "qwertyuiop", "iloveyou", "1qaz2wsx", "p@ssw0rd", "summer2024!", "welcome1", "11111111"} {
		if !seen[must] {
			t.Errorf("expected %q in list", must)
		}
	}
}
