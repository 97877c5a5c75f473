package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
)

// harnessTB lets a command use the cluster harness, whose API takes a
// testing.TB because its main users are tests. Fatal errors panic with a
// fatalError that run recovers, and cleanups run when close is called.
type harnessTB struct {
	testing.TB // nil: only satisfies the interface's unexported method

	name string
	log  io.Writer

	mu       sync.Mutex
	cleanups []func()
	dirs     []string
	failed   bool
}

// fatalError carries a harness failure out of the call that hit it.
type fatalError struct{ msg string }

func (e fatalError) Error() string { return e.msg }

func newHarnessTB(name string, log io.Writer) *harnessTB {
	return &harnessTB{name: name, log: log}
}

func (h *harnessTB) Helper()      {}
func (h *harnessTB) Name() string { return h.name }

func (h *harnessTB) Failed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failed
}

func (h *harnessTB) Logf(format string, args ...any) {
	fmt.Fprintf(h.log, "# "+format+"\n", args...)
}

func (h *harnessTB) Fatalf(format string, args ...any) {
	h.mu.Lock()
	h.failed = true
	h.mu.Unlock()
	panic(fatalError{msg: fmt.Sprintf(format, args...)})
}

func (h *harnessTB) Fatal(args ...any) { h.Fatalf("%s", fmt.Sprint(args...)) }

func (h *harnessTB) Setenv(key, value string) {
	if err := os.Setenv(key, value); err != nil {
		h.Fatalf("setenv %s: %v", key, err)
	}
}

func (h *harnessTB) Cleanup(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cleanups = append(h.cleanups, f)
}

func (h *harnessTB) TempDir() string {
	dir, err := os.MkdirTemp("", "chainfire-bench-")
	if err != nil {
		h.Fatalf("temp dir: %v", err)
	}
	h.mu.Lock()
	h.dirs = append(h.dirs, dir)
	h.mu.Unlock()
	return dir
}

// close runs the cleanups in reverse order, then removes the temp dirs.
func (h *harnessTB) close() {
	h.mu.Lock()
	cleanups, dirs := h.cleanups, h.dirs
	h.cleanups, h.dirs = nil, nil
	h.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}

// catch turns a harness panic into an error; other panics propagate.
func catch(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if fe, ok := r.(fatalError); ok {
		*err = fe
		return
	}
	panic(r)
}
