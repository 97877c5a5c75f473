package kvservice

import (
	"bytes"
	"errors"
	"testing"

	"github.com/photoncloud/core/flaredb/internal/region"
)

// FuzzValidate holds the request validators to their contract: they never
// panic, every rejection is an InvalidArgument, and what they accept is
// within the limits the region package enforces again at apply time.
func FuzzValidate(f *testing.F) {
	f.Add([]byte("a"), []byte("b"), []byte("v"))
	f.Add([]byte{}, []byte("a"), []byte{})
	f.Add([]byte("z"), []byte("a"), bytes.Repeat([]byte("x"), 100))
	f.Fuzz(func(t *testing.T, k, end, v []byte) {
		check := func(what string, err error, ok bool) {
			if err != nil && !errors.Is(err, region.ErrInvalidArgument) {
				t.Fatalf("%s: %v is not an invalid-argument error", what, err)
			}
			if err == nil && !ok {
				t.Fatalf("%s accepted bad input (key %q end %q, %d-byte value)", what, k, end, len(v))
			}
		}
		check("key", validKey(k), len(k) > 0 && len(k) <= region.MaxKeySize)
		check("value", validValue(v), len(v) <= region.MaxValueSize)
		check("range", validRange(k, end), len(k) <= region.MaxKeySize && len(end) <= region.MaxKeySize &&
			(len(k) == 0 || len(end) == 0 || bytes.Compare(k, end) <= 0))
		check("keys", validKeys([][]byte{k, end}), len(k) > 0 && len(end) > 0 && len(k) <= region.MaxKeySize && len(end) <= region.MaxKeySize)
	})
}
