package iamsdk

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// HTTP1Client is a connect.HTTPClient for unary calls over a pool of
// HTTP/1.1 keep-alive connections: the calling goroutine writes the
// request (headers and body in one write) and reads the response itself.
// net/http's Transport hands every HTTP/1.1 request to a writer and a
// reader goroutine per connection, and its HTTP/2 client and server add
// framing, flow control and more hand-offs; for small unary calls such as
// Authorize, that plumbing costs several times the decision. Use it with
// the Connect protocol (not gRPC, which needs HTTP/2) for a single host:
//
//	hc := iamsdk.NewHTTP1Client("http://iam:8090", iamsdk.HTTP1Options{})
//	authz := iamv1connect.NewAuthzServiceClient(hc, "http://iam:8090")
//
// Streaming calls need HTTP/2: use net/http for them.
type HTTP1Client struct {
	addr   string // host:port to dial
	host   string // Host header
	tls    *tls.Config
	dialer net.Dialer
	slots  chan struct{} // one per connection in use
	idleTO time.Duration

	mu   sync.Mutex
	idle []*h1conn // most recently used last
}

// HTTP1Options tune an HTTP1Client; zero values pick the defaults.
type HTTP1Options struct {
	// MaxConns bounds the connections (and so the calls in flight); more
	// concurrent calls wait for a free one. Default 64.
	MaxConns int
	// DialTimeout bounds connecting (default 5s; the call's context also
	// applies).
	DialTimeout time.Duration
	// IdleTimeout closes connections unused for longer, before a server or
	// middlebox would (default 50s).
	IdleTimeout time.Duration
	// TLS is used for https base URLs (default: system roots, the URL's
	// host name).
	TLS *tls.Config
}

// NewHTTP1Client returns a client for baseURL's host (http or https).
func NewHTTP1Client(baseURL string, o HTTP1Options) (*HTTP1Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("iamsdk: HTTP/1.1 client: base URL %q must be http(s)://host[:port]", baseURL)
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 64
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 50 * time.Second
	}
	c := &HTTP1Client{addr: u.Host, host: u.Host, dialer: net.Dialer{Timeout: o.DialTimeout},
		slots: make(chan struct{}, o.MaxConns), idleTO: o.IdleTimeout}
	if u.Port() == "" {
		c.addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if u.Scheme == "https" {
		c.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
		if o.TLS != nil {
			c.tls = o.TLS.Clone()
			c.tls.NextProtos = []string{"http/1.1"}
			if c.tls.ServerName == "" {
				c.tls.ServerName = u.Hostname()
			}
		}
	}
	return c, nil
}

// h1conn is one keep-alive connection.
type h1conn struct {
	nc       net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

// Do sends req on a pooled connection and returns the response; its body
// must be read to the end or closed, which returns the connection.
func (c *HTTP1Client) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if req.URL.Host != "" && req.URL.Host != c.host {
		closeBody(req)
		return nil, fmt.Errorf("iamsdk: HTTP/1.1 client for %s asked for %s", c.host, req.URL.Host)
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		closeBody(req)
		return nil, ctx.Err()
	}
	for attempt := 0; ; attempt++ {
		pc, reused, err := c.conn(ctx)
		if err != nil {
			closeBody(req)
			<-c.slots
			return nil, err
		}
		resp, err := c.roundTrip(ctx, pc, req)
		if err == nil {
			return resp, nil
		}
		pc.nc.Close()
		if reused && attempt == 0 && errors.Is(err, errNoResponse) && replayable(req) {
			// The server closed a kept-alive connection as it was reused:
			// send again on a new one, as net/http does.
			if body, rerr := rewind(req); rerr == nil {
				r2 := *req
				r2.Body, req = body, &r2
				continue
			}
		}
		<-c.slots
		return nil, err
	}
}

// CloseIdleConnections closes the pooled connections not in use.
func (c *HTTP1Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, pc := range idle {
		pc.nc.Close()
	}
}

// conn returns an idle connection that is still open, or a new one.
func (c *HTTP1Client) conn(ctx context.Context) (*h1conn, bool, error) {
	now := time.Now()
	for {
		c.mu.Lock()
		n := len(c.idle)
		if n == 0 {
			c.mu.Unlock()
			break
		}
		pc := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		if now.Sub(pc.lastUsed) < c.idleTO && alive(pc.nc) {
			return pc, true, nil
		}
		pc.nc.Close()
	}
	nc, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, false, fmt.Errorf("iamsdk: dialing %s: %w", c.addr, err)
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, false, fmt.Errorf("iamsdk: TLS handshake with %s: %w", c.addr, err)
		}
		nc = tc
	}
	return &h1conn{nc: nc, br: bufio.NewReaderSize(nc, 4096), bw: bufio.NewWriterSize(nc, 4096)}, false, nil
}

func (c *HTTP1Client) put(pc *h1conn) {
	pc.lastUsed = time.Now()
	c.mu.Lock()
	c.idle = append(c.idle, pc)
	c.mu.Unlock()
}

// alive reports whether an idle connection is still open: the server sent
// nothing since the last response, so anything readable (data or EOF)
// means it closed or broke the connection. It peeks without blocking.
func alive(nc net.Conn) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && ok
}

// errNoResponse marks a failure before any byte of the response arrived.
var errNoResponse = errors.New("iamsdk: connection failed before the response")

// aLongTimeAgo is a deadline in the past: it interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

func (c *HTTP1Client) roundTrip(ctx context.Context, pc *h1conn, req *http.Request) (*http.Response, error) {
	stop := func() bool { return true }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { _ = pc.nc.SetDeadline(aLongTimeAgo) })
	}
	fail := func(err error) (*http.Response, error) {
		if !stop() || ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err := c.write(pc.bw, req); err != nil {
		if errors.Is(err, errBadRequest) {
			return fail(err)
		}
		return fail(fmt.Errorf("%w: writing: %w", errNoResponse, err))
	}
	if _, err := pc.br.Peek(1); err != nil {
		return fail(fmt.Errorf("%w: reading: %w", errNoResponse, err))
	}
	resp, err := http.ReadResponse(pc.br, req)
	if err != nil {
		return fail(fmt.Errorf("iamsdk: reading response: %w", err))
	}
	resp.Body = &h1body{rc: resp.Body, c: c, pc: pc, stop: stop, reuse: !resp.Close && !req.Close}
	return resp, nil
}

var errBadRequest = errors.New("iamsdk: request cannot be sent")

// write sends the request line, headers and body with one flush (for
// bodies that fit the buffer, as unary messages do).
func (c *HTTP1Client) write(w *bufio.Writer, req *http.Request) error {
	body, n, err := requestBody(req)
	if err != nil {
		return err
	}
	if body != nil {
		defer body.Close()
	}
	host := c.host
	if req.Host != "" {
		host = req.Host
	}
	if !validValue(host) {
		return fmt.Errorf("%w: invalid Host %q", errBadRequest, host)
	}
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	for k, vs := range req.Header {
		if !validName(k) {
			return fmt.Errorf("%w: invalid header name %q", errBadRequest, k)
		}
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length", "Connection", "Transfer-Encoding":
			continue
		}
		for _, v := range vs {
			if !validValue(v) {
				return fmt.Errorf("%w: invalid value for header %q", errBadRequest, k)
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if body != nil || req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.FormatInt(n, 10))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	if body != nil {
		if m, err := io.CopyN(w, body, n); err != nil {
			return fmt.Errorf("%w: body ended after %d of %d bytes: %w", errBadRequest, m, n, err)
		}
	}
	return w.Flush()
}

// maxBody bounds a request body whose length was not given.
const maxBody = 16 << 20

// requestBody returns the body to send and its length, reading a body of
// unknown length into memory (unary messages are small). The caller
// closes it.
func requestBody(req *http.Request) (io.ReadCloser, int64, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, 0, nil
	}
	if req.ContentLength > 0 {
		return req.Body, req.ContentLength, nil
	}
	defer req.Body.Close()
	b, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: reading the body: %w", errBadRequest, err)
	}
	if len(b) > maxBody {
		return nil, 0, fmt.Errorf("%w: body of unknown length over %d bytes", errBadRequest, maxBody)
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ':' || c == '"' || c == '(' || c == ')' || c == ',' || c == '/' ||
			c == ';' || c == '<' || c == '=' || c == '>' || c == '?' || c == '@' || c == '[' || c == '\\' ||
			c == ']' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// replayable is net/http's rule for resending a request that may have
// reached the server: only safe methods, or a declared idempotency key.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

func rewind(req *http.Request) (io.ReadCloser, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("iamsdk: body cannot be resent")
	}
	return req.GetBody()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// h1body returns the connection to the pool once the response was read to
// the end, and closes it otherwise.
type h1body struct {
	rc    io.ReadCloser
	c     *HTTP1Client
	pc    *h1conn
	stop  func() bool
	reuse bool
	done  bool
}

func (b *h1body) Read(p []byte) (int, error) {
	if b.done {
		return 0, errors.New("iamsdk: read after close")
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
	}
	return n, err
}

// Close drains what is left (net/http's body does, for keep-alive) and
// releases the connection.
func (b *h1body) Close() error {
	if b.done {
		return nil
	}
	err := b.rc.Close()
	b.finish(err == nil)
	return err
}

func (b *h1body) finish(complete bool) {
	b.done = true
	if b.stop() && complete && b.reuse {
		b.c.put(b.pc)
	} else {
		b.pc.nc.Close()
	}
	<-b.c.slots
}
