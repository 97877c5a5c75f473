package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat times
// (100 on every Linux this runs on).
const clockTicks = 100

// processCPU returns the user plus system CPU time pid has used.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: utime and stime are the 12th and 13th of them.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("bench: short /proc/%d/stat", pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// clusterCPU is the CPU time all of t's running members have used.
func (t *target) clusterCPU() (time.Duration, error) {
	var total time.Duration
	for _, m := range t.cluster.Members() {
		pid := m.PID()
		if pid == 0 {
			continue
		}
		d, err := processCPU(pid)
		if err != nil {
			return 0, err
		}
		total += d
	}
	return total, nil
}

// measureCPU samples t's CPU at the start and the end of a row's measured
// window (warmup after now, then duration); the returned func waits for the
// second sample and returns the difference, or 0 when it could not be read.
func measureCPU(ctx context.Context, t *target, warmup, duration time.Duration) func() time.Duration {
	from := time.Now().Add(warmup)
	to := from.Add(duration)
	res := make(chan time.Duration, 1)
	go func() {
		if !sleepUntil(ctx, from) {
			res <- 0
			return
		}
		c0, err0 := t.clusterCPU()
		if !sleepUntil(ctx, to) {
			res <- 0
			return
		}
		c1, err1 := t.clusterCPU()
		if err0 != nil || err1 != nil {
			res <- 0
			return
		}
		res <- c1 - c0
	}()
	return func() time.Duration { return <-res }
}

func sleepUntil(ctx context.Context, at time.Time) bool {
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
