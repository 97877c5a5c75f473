package region

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWaitApplied(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.r.WaitApplied(ctx, 0); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.r.WaitApplied(ctx, 3) }()
	for range 3 {
		select {
		case err := <-done:
			t.Fatalf("WaitApplied(3) returned early: %v", err)
		default:
		}
		f.mustApply(f.r, putCmd(header(f.r), "k", "v"))
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitApplied(3) did not return after index 3 was applied")
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := f.r.WaitApplied(short, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied past the log = %v", err)
	}
}
