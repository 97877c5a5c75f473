package region

import (
	"testing"
)

func TestCompareAndSwap(t *testing.T) {
	f := newFixture(t)
	h := header(f.r)

	res := f.mustApply(f.r, casCmd(h, "k", "v1", "", true))
	if !res.CAS.Succeeded || !res.CAS.PreviousNotExists {
		t.Fatalf("cas on absent key = %+v", res.CAS)
	}
	res = f.mustApply(f.r, casCmd(h, "k", "v2", "", true))
	if res.CAS.Succeeded || res.CAS.PreviousNotExists || string(res.CAS.PreviousValue) != "v1" {
		t.Fatalf("cas previous-not-exists on present key = %+v", res.CAS)
	}
	res = f.mustApply(f.r, casCmd(h, "k", "v2", "wrong", false))
	if res.CAS.Succeeded || string(res.CAS.PreviousValue) != "v1" {
		t.Fatalf("cas with wrong previous = %+v", res.CAS)
	}
	if v, _ := f.get(f.r, "k"); v != "v1" {
		t.Fatalf("failed cas wrote: %q", v)
	}
	res = f.mustApply(f.r, casCmd(h, "k", "v2", "v1", false))
	if !res.CAS.Succeeded || string(res.CAS.PreviousValue) != "v1" {
		t.Fatalf("cas with right previous = %+v", res.CAS)
	}
	if v, _ := f.get(f.r, "k"); v != "v2" {
		t.Fatalf("k = %q", v)
	}
	// Comparing with a value on an absent key fails, even an empty one.
	res = f.mustApply(f.r, casCmd(h, "absent", "x", "", false))
	if res.CAS.Succeeded || !res.CAS.PreviousNotExists {
		t.Fatalf("cas on absent key with previous value = %+v", res.CAS)
	}
}

func TestCASSeesEarlierEntriesOfSameBatch(t *testing.T) {
	f := newFixture(t)
	h := header(f.r)
	res, err := f.r.ApplyBatch([]Entry{
		{Index: 1, Term: 1, Command: putCmd(h, "k", "a")},
		{Index: 2, Term: 1, Command: casCmd(h, "k", "b", "a", false)},
		{Index: 3, Term: 1, Command: casCmd(h, "k", "c", "a", false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res[1].CAS.Succeeded || res[2].CAS.Succeeded || string(res[2].CAS.PreviousValue) != "b" {
		t.Fatalf("results = %+v %+v", res[1].CAS, res[2].CAS)
	}
	if v, _ := f.get(f.r, "k"); v != "b" {
		t.Fatalf("k = %q", v)
	}
}
