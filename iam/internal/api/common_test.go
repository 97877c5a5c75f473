package api

import (
	"testing"
)

func TestPageTokenBoundToScope(t *testing.T) {
	tok := nextToken("bob", "users|name=b*")
	q, err := pageQuery(10, tok, "users|name=b*")
	if err != nil || q.After != "bob" || q.PageSize != 10 {
		t.Fatalf("pageQuery = %+v, %v", q, err)
	}
	if _, err := pageQuery(10, tok, "users|"); err == nil {
		t.Fatal("token accepted for another filter")
	}
	if _, err := pageQuery(-1, "", "x"); err == nil {
		t.Fatal("negative page size accepted")
	}
	if q, _ := pageQuery(5000, "", "x"); q.PageSize != maxPage {
		t.Fatalf("page size not capped: %d", q.PageSize)
	}
}

func TestParseFilter(t *testing.T) {
	f, err := parseFilter("name=ab* disabled=false", true, true)
	if err != nil {
		t.Fatal(err)
	}
	if !f.match("abc", false) || f.match("abc", true) || f.match("xabc", false) {
		t.Fatal("filter matched wrongly")
	}
	for _, bad := range []string{"name", "disabled=maybe", "colour=red", "name=A*"} {
		if _, err := parseFilter(bad, true, true); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := parseFilter("name=a", false, true); err == nil {
		t.Error("name filter accepted where not allowed")
	}
}

// FuzzListInputs: filter and page-token parsing never panic, and whatever
// they accept round-trips.
func FuzzListInputs(f *testing.F) {
	f.Add("name=a*", "", int32(5))
	f.Add("disabled=true", "Zm9vOmJhcg", int32(-1))
	f.Fuzz(func(t *testing.T, filter, token string, size int32) {
		if _, err := parseFilter(filter, true, true); err != nil {
			return
		}
		q, err := pageQuery(size, token, filter)
		if err != nil {
			return
		}
		if q.PageSize <= 0 || q.PageSize > maxPage {
			t.Fatalf("page size %d", q.PageSize)
		}
		if q.After != "" && nextToken(q.After, filter) == "" {
			t.Fatal("accepted cursor does not round-trip")
		}
	})
}
