package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Proc is one server process. Its output goes to <dir>/<name>.log.
type Proc struct {
	Name string
	bin  string
	args []string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

func newProc(name, bin, logDir string, args ...string) *Proc {
	return &Proc{Name: name, bin: bin, args: args, log: filepath.Join(logDir, name+".log")}
}

// Start runs the process; it dies with the benchmark (parent-death signal).
func (p *Proc) Start() error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.done = make(chan struct{})
	go func() { _ = p.cmd.Wait(); f.Close(); close(p.done) }()
	return nil
}

// Pid is the running process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill stops the process with SIGKILL and waits for it.
func (p *Proc) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitHTTP polls http://addr/path until it answers 200.
func (p *Proc) waitHTTP(ctx context.Context, addr, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited; see %s", p.Name, p.log)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s%s: %w; see %s", p.Name, addr, path, ctx.Err(), p.log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeAddr returns a 127.0.0.1 host:port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func freeAddrs(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}
