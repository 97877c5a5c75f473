package oauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func formRequest(body string) (*httptest.ResponseRecorder, *http.Request) {
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return httptest.NewRecorder(), r
}

// TestReadClientUnescapesBasic: RFC 6749 §2.3.1 form-encodes the Basic
// credentials before base64, which golang.org/x/oauth2 does; a secret with
// reserved characters must survive.
func TestReadClientUnescapesBasic(t *testing.T) {
	w, r := formRequest("grant_type=client_credentials")
	r.SetBasicAuth(url.QueryEscape("sa_x"), url.QueryEscape("pcsk_k.a+b/c=="))
	form, err := readForm(w, r)
	if err != nil {
		t.Fatal(err)
	}
	c, err := readClient(r, form)
	if err != nil || c == nil || c.id != "sa_x" || c.secret != "pcsk_k.a+b/c==" || !c.basic {
		t.Fatalf("readClient = %+v, %v", c, err)
	}
}

func TestReadFormRejects(t *testing.T) {
	for name, body := range map[string]string{
		"repeated":  "a=1&a=2",
		"bad pct":   "a=%zz",
		"too long":  "a=" + strings.Repeat("x", maxParamBytes+1),
		"too large": strings.Repeat("a=1&", maxFormBytes),
	} {
		w, r := formRequest(body)
		if _, err := readForm(w, r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	w, r := formRequest("a=1")
	r.Method = http.MethodGet
	if _, err := readForm(w, r); err == nil {
		t.Error("GET accepted")
	}
}

// FuzzReadForm: the form decoder never panics and never accepts a body
// with repeated or oversized parameters.
func FuzzReadForm(f *testing.F) {
	f.Add("grant_type=client_credentials&scope=a+b")
	f.Add("a=1&a=2")
	f.Add("%")
	f.Fuzz(func(t *testing.T, body string) {
		w, r := formRequest(body)
		form, err := readForm(w, r)
		if err != nil {
			return
		}
		for k, v := range form {
			if len(v) != 1 || len(v[0]) > maxParamBytes {
				t.Fatalf("accepted %q = %q", k, v)
			}
		}
		_, _ = readClient(r, form)
	})
}
