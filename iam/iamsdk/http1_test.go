package iamsdk

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// h1server is an HTTP/1.1 test server counting the connections it accepted
// and the handlers running at once.
type h1server struct {
	*httptest.Server
	conns, active, maxActive atomic.Int64
}

func newH1Server(t *testing.T, h http.HandlerFunc) *h1server {
	s := &h1server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.active.Add(1)
		defer s.active.Add(-1)
		for m := s.maxActive.Load(); n > m && !s.maxActive.CompareAndSwap(m, n); m = s.maxActive.Load() {
		}
		h(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Method", r.Method)
	w.Header().Set("X-Auth", r.Header.Get("Authorization"))
	w.Write(append([]byte(r.URL.RequestURI()+" "), b...))
}

func newClient(t *testing.T, base string, o HTTP1Options) *HTTP1Client {
	c, err := NewHTTP1Client(base, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func post(ctx context.Context, t *testing.T, c *HTTP1Client, url, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer x")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.Header.Get("X-Auth") != "Bearer x" || resp.Header.Get("X-Method") != http.MethodPost {
		t.Fatalf("headers did not arrive: %v", resp.Header)
	}
	return string(b), err
}

// TestHTTP1KeepAlive: sequential calls share one connection and get their
// own answers; concurrent calls never use more than MaxConns connections.
func TestHTTP1KeepAlive(t *testing.T) {
	s := newH1Server(t, echo)
	c := newClient(t, s.URL, HTTP1Options{MaxConns: 3})
	ctx := context.Background()
	for i := range 20 {
		body := strings.Repeat("b", i*300) // up to beyond the write buffer
		got, err := post(ctx, t, c, s.URL+"/svc/M?x=1", body)
		if err != nil || got != "/svc/M?x=1 "+body {
			t.Fatalf("call %d: %q %v", i, got, err)
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("20 sequential calls used %d connections", n)
	}
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := strings.Repeat("c", i)
			if got, err := post(ctx, t, c, s.URL+"/p", want); err != nil || got != "/p "+want {
				t.Errorf("concurrent call: %q %v", got, err)
			}
		}()
	}
	wg.Wait()
	if n, m := s.conns.Load(), s.maxActive.Load(); n > 3 || m > 3 {
		t.Fatalf("MaxConns 3: %d connections, %d calls at once", n, m)
	}
}

// TestHTTP1ServerClosedIdle: connections the server closed while idle are
// noticed before reuse, and the call goes out on a new one.
func TestHTTP1ServerClosedIdle(t *testing.T) {
	s := newH1Server(t, echo)
	c := newClient(t, s.URL, HTTP1Options{})
	ctx := context.Background()
	for i := range 3 {
		if _, err := post(ctx, t, c, s.URL+"/a", "x"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		s.CloseClientConnections()
		time.Sleep(20 * time.Millisecond) // let the FIN arrive
	}
	if n := s.conns.Load(); n != 3 {
		t.Fatalf("%d connections, want a new one after each close", n)
	}
}

// TestHTTP1ConnectionClose: a response with Connection: close is read,
// and its connection not reused.
func TestHTTP1ConnectionClose(t *testing.T) {
	s := newH1Server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		echo(w, r)
	})
	c := newClient(t, s.URL, HTTP1Options{})
	for range 3 {
		if got, err := post(context.Background(), t, c, s.URL+"/a", "x"); err != nil || got != "/a x" {
			t.Fatalf("%q %v", got, err)
		}
	}
	if n := s.conns.Load(); n != 3 {
		t.Fatalf("%d connections for 3 Connection: close responses", n)
	}
}

// TestHTTP1Cancel: a call whose context ends while the server is still
// working returns promptly with the context's error; its connection is
// dropped (the late response must not answer the next call).
func TestHTTP1Cancel(t *testing.T) {
	release := make(chan struct{})
	s := newH1Server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			io.ReadAll(r.Body) // after the body, net/http notices a hang-up
			select {
			case <-release:
				w.Write([]byte("late"))
			case <-r.Context().Done(): // the client hung up
			}
			return
		}
		echo(w, r)
	})
	defer close(release)
	c := newClient(t, s.URL, HTTP1Options{MaxConns: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := post(ctx, t, c, s.URL+"/slow", "x")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("after %v: %v, want the deadline", time.Since(start), err)
	}
	// The only slot was given back, and the next call gets its own answer.
	if got, err := post(context.Background(), t, c, s.URL+"/fast", "y"); err != nil || got != "/fast y" {
		t.Fatalf("next call: %q %v", got, err)
	}
	// Waiting for a slot also honours the context.
	hold, err := http.NewRequest(http.MethodPost, s.URL+"/slow", strings.NewReader("z"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := c.Do(hold)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := post(ctx2, t, c, s.URL+"/fast", "w"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a connection: %v", err)
	}
	release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestHTTP1RefusesInjection: header values cannot smuggle a second
// request or header, and a body shorter than declared is not sent.
func TestHTTP1RefusesInjection(t *testing.T) {
	var calls atomic.Int64
	s := newH1Server(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	c := newClient(t, s.URL, HTTP1Options{})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/a", strings.NewReader("x"))
	req.Header.Set("X-Evil", "v\r\nContent-Length: 0\r\n\r\nPOST /b HTTP/1.1")
	if _, err := c.Do(req); err == nil {
		t.Fatal("CRLF in a header value was sent")
	}
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/a", strings.NewReader("x"))
	req.ContentLength = 5
	if _, err := c.Do(req); err == nil {
		t.Fatal("short body was sent")
	}
	req, _ = http.NewRequest(http.MethodPost, "http://other.example/a", strings.NewReader("x"))
	if _, err := c.Do(req); err == nil {
		t.Fatal("request for another host was sent")
	}
	if calls.Load() != 0 {
		t.Fatalf("server saw %d requests", calls.Load())
	}
}
