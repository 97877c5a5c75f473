package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckClusterFlags: any flag combination yields nil or an error,
// never a panic, and a name absent from a non-empty --initial-cluster is
// always refused.
func FuzzCheckClusterFlags(f *testing.F) {
	f.Add("m0", "m0=http://a:1,m1=http://b:1", "http://a:1")
	f.Add("m0", "", "")
	f.Add("x", "=,==,m0=", "http://a:1,http://b:2")
	f.Fuzz(func(t *testing.T, name, initial, advertise string) {
		err := checkClusterFlags(name, initial, advertise)
		if err == nil && initial != "" && !strings.Contains(initial, name+"=") {
			t.Fatalf("accepted --name %q absent from --initial-cluster %q", name, initial)
		}
	})
}

// TestStatusRejectsGarbage: a file that is not a snapshot gives an error.
func TestStatusRejectsGarbage(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":       nil,
		"text":        []byte("not a snapshot at all"),
		"page sized":  make([]byte, 4096*4),
		"with a hash": make([]byte, 4096*4+32),
	} {
		path := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Status(path); err == nil {
			t.Errorf("%s: Status succeeded on garbage", name)
		}
		if err := Restore(RestoreOptions{Snapshot: path, DataDir: filepath.Join(t.TempDir(), "d"), SkipHashCheck: true}); err == nil {
			t.Errorf("%s: Restore succeeded on garbage", name)
		}
	}
}
