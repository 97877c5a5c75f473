package throttle

import (
	"fmt"
	"testing"
	"time"
)

func TestGrowingDelayCappedAndRecovering(t *testing.T) {
	l := New(Config{Free: 3, BaseDelay: time.Second, MaxDelay: 8 * time.Second, Forget: time.Hour})
	now := time.Unix(1000, 0)
	for range 3 {
		if d := l.Check("k", now); d != 0 {
			t.Fatalf("free attempt throttled: %v", d)
		}
		l.Fail("k", now)
	}
	if d := l.Check("k", now); d != 0 {
		t.Fatalf("throttled after only the free failures: %v", d)
	}
	var delays []time.Duration
	for range 6 {
		l.Fail("k", now)
		delays = append(delays, l.Check("k", now))
		now = now.Add(l.Check("k", now)) // wait it out
	}
	if fmt.Sprint(delays) != "[1s 2s 4s 8s 8s 8s]" {
		t.Fatalf("delays = %v", delays)
	}
	if d := l.Check("k", now); d != 0 {
		t.Fatalf("still throttled after waiting: %v", d)
	}
	if d := l.Check("other", now); d != 0 {
		t.Fatal("keys interfere")
	}
	// A long quiet period forgets the history.
	now = now.Add(2 * time.Hour)
	l.Fail("k", now)
	if d := l.Check("k", now); d != 0 {
		t.Fatalf("history not forgotten: %v", d)
	}
	l.Succeed("k")
	if len(l.entries) != 0 {
		t.Fatal("success did not forget")
	}
}

func TestMaxKeysBound(t *testing.T) {
	l := New(Config{Free: 1, BaseDelay: time.Second, MaxDelay: time.Minute, Forget: time.Hour, MaxKeys: 10})
	now := time.Unix(1000, 0)
	for i := range 100 {
		l.Fail(fmt.Sprint(i), now)
	}
	if len(l.entries) > 10 {
		t.Fatalf("%d entries; bound is 10", len(l.entries))
	}
}

func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5555":             "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:1":       "192.0.2.7",
		"192.0.2.9":                  "192.0.2.9",
		"not an address":             "unknown",
	} {
		if got := SourceKey(in); got != want {
			t.Errorf("SourceKey(%q) = %q, want %q", in, got, want)
		}
	}
}
