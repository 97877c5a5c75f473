// Package throttle slows down password guessing. It counts failed attempts
// per key (an account name, a source address) and, after a few free
// failures, refuses further attempts for a delay that doubles with each
// failure up to a cap. The cap is what keeps an attacker from locking a
// victim out for good (ASVS 6.1.1): at worst the victim waits MaxDelay.
//
// State is in memory, so each IAM replica throttles on its own; a shared
// store-backed limiter is future work.
package throttle

import (
	"net/netip"
	"sync"
	"time"
)

// Config tunes a Limiter.
type Config struct {
	// Free is how many failures are allowed before delays start.
	Free int
	// BaseDelay is the first delay; each further failure doubles it.
	BaseDelay time.Duration
	// MaxDelay caps the delay.
	MaxDelay time.Duration
	// Forget drops a key's history after this long without failures.
	Forget time.Duration
	// MaxKeys bounds memory; when full, keys past Forget are evicted and,
	// failing that, the entry blocked the shortest is.
	MaxKeys int
}

type entry struct {
	failures     int
	lastFailure  time.Time
	blockedUntil time.Time
}

// Limiter is safe for concurrent use.
type Limiter struct {
	cfg     Config
	mu      sync.Mutex
	entries map[string]*entry
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	return &Limiter{cfg: cfg, entries: make(map[string]*entry)}
}

// Check reports how long the caller must still wait before key may try
// again; zero means it may try now.
func (l *Limiter) Check(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	if !ok || !now.Before(e.blockedUntil) {
		return 0
	}
	return e.blockedUntil.Sub(now)
}

// Fail records a failed attempt for key.
func (l *Limiter) Fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	if ok && now.Sub(e.lastFailure) > l.cfg.Forget {
		e.failures = 0
	}
	if !ok {
		if len(l.entries) >= l.cfg.MaxKeys {
			l.evict(now)
		}
		e = &entry{}
		l.entries[key] = e
	}
	e.failures++
	e.lastFailure = now
	if over := e.failures - l.cfg.Free; over > 0 {
		d := l.cfg.BaseDelay
		for i := 1; i < over && d < l.cfg.MaxDelay; i++ {
			d *= 2
		}
		d = min(d, l.cfg.MaxDelay)
		e.blockedUntil = now.Add(d)
	}
}

// Succeed forgets key's failures (after a successful login).
func (l *Limiter) Succeed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key)
}

// evict makes room: first everything forgotten, else the least-blocked
// entry. Called with mu held.
func (l *Limiter) evict(now time.Time) {
	var victim string
	var earliest time.Time
	for k, e := range l.entries {
		if now.Sub(e.lastFailure) > l.cfg.Forget && !now.Before(e.blockedUntil) {
			delete(l.entries, k)
			continue
		}
		if victim == "" || e.blockedUntil.Before(earliest) {
			victim, earliest = k, e.blockedUntil
		}
	}
	if len(l.entries) >= l.cfg.MaxKeys && victim != "" {
		delete(l.entries, victim)
	}
}

// SourceKey reduces a remote address ("host:port" or "host") to the unit
// that is throttled: the IPv4 address, or the IPv6 /64, since one host
// usually controls a whole /64.
func SourceKey(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	var a netip.Addr
	if err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(remote); err != nil {
		return "unknown"
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
