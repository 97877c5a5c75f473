package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.50, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(s, tc.q); got != tc.want {
			t.Errorf("percentile(1..100ms, %v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(empty) = %v, want 0", got)
	}
}

func TestSummarizeRoundsTakesMediansAndSkipsFailedRounds(t *testing.T) {
	rs := []Result{
		{Ops: 100, Elapsed: time.Second, P50: 3 * time.Millisecond, P99: 9 * time.Millisecond},
		{Skip: "error: boom", Errors: 2},
		{Ops: 300, Elapsed: time.Second, P50: 1 * time.Millisecond, P99: 30 * time.Millisecond, Errors: 1},
		{Ops: 200, Elapsed: time.Second, P50: 2 * time.Millisecond, P99: 10 * time.Millisecond},
	}
	s := summarizeRounds(rs)
	if s.Rounds != 3 || s.QPS != 200 || s.P50 != 2*time.Millisecond || s.P99 != 10*time.Millisecond || s.Errors != 3 || s.Skip != "" {
		t.Fatalf("summary = %+v", s)
	}
	if s := summarizeRounds([]Result{{Skip: "unsupported: x"}}); s.Rounds != 0 || s.Skip != "unsupported: x" {
		t.Fatalf("all-skipped summary = %+v", s)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Fatalf("median of even count = %v, want 2.5", got)
	}
}

func TestSpreadOrderPutsAFollowerFirst(t *testing.T) {
	for leader := range 3 {
		got := spreadOrder(3, leader, false)
		if got[0] == leader || got[1] != leader || len(got) != 3 {
			t.Errorf("spreadOrder(3, %d) = %v", leader, got)
		}
		if got := spreadOrder(3, leader, true); got[0] != leader {
			t.Errorf("spreadOrder(3, %d, leader first) = %v", leader, got)
		}
	}
}

func TestRowsAndKinds(t *testing.T) {
	ks, err := ParseKinds("put, watch,lease-keepalive")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Kinds: ks, Clients: []int{1, 64}, Watchers: 1000}
	var names []string
	for _, r := range o.rows() {
		names = append(names, r.String())
	}
	want := []string{"put (1 clients)", "put (64 clients)", "watch latency (1000 watchers)", "lease keepalive (64 clients)"}
	if !slices.Equal(names, want) {
		t.Fatalf("rows = %q, want %q", names, want)
	}
	if _, err := ParseKinds("put,nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("ParseKinds(unknown) = %v", err)
	}
}
