//go:build e2e

package e2e

// Process management for the end-to-end suite: start a process with its output
// in a log file, wait (bounded) until it is ready, stop its whole process group
// on cleanup, and print the tail of its log when the test failed.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one child process of the suite.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
}

// startProc runs bin with args in dir, with env added to the environment, its
// stdout and stderr going to <tempdir>/<name>.log. The process (and its group)
// is stopped in t.Cleanup; on failure the tail of the log is printed.
func startProc(t testing.TB, name, dir string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%s: create log: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("%s: start %s: %v", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	// Cleanups run last-in first-out: stop first, then dump the complete log.
	t.Cleanup(func() {
		if t.Failed() {
			dumpLog(t, name, logPath, 150)
		}
	})
	t.Cleanup(p.stop)
	return p
}

// stop sends SIGTERM to the process group, then SIGKILL after 5 s.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
}

// alive reports an error if the process has already exited.
func (p *proc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited early: %v; log:\n%s", p.name, p.waitErr, tail(p.logPath, 40))
	default:
		return nil
	}
}

// waitUntil polls check every 50 ms until it returns nil, the process dies, or
// the timeout passes.
func (p *proc) waitUntil(t testing.TB, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if err := p.alive(); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if last = check(); last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not ready after %v: %v", p.name, what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitTCP waits until addr accepts TCP connections.
func (p *proc) waitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	p.waitUntil(t, "tcp "+addr, timeout, func() error {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// waitHTTP200 waits until GET url answers 200.
func (p *proc) waitHTTP200(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	p.waitUntil(t, "GET "+url, timeout, func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// logContains reports whether the process's log contains s.
func (p *proc) logContains(s string) bool {
	b, _ := os.ReadFile(p.logPath)
	return bytes.Contains(b, []byte(s))
}

func dumpLog(t testing.TB, name, path string, lines int) {
	t.Logf("----- last %d lines of %s (%s) -----\n%s\n----- end of %s -----", lines, name, path, tail(path, lines), name)
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	var ring []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		ring = append(ring, sc.Text())
		if len(ring) > n {
			ring = ring[1:]
		}
	}
	return strings.Join(ring, "\n")
}

// run executes a short command with a timeout and returns stdout; on failure
// the error includes stderr.
func run(ctx context.Context, timeout time.Duration, env []string, bin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", filepath.Base(bin), timeout, ctx.Err())
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%s %s: %v\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
		}
	}
	return stdout.String(), stderr.String(), err
}

// requireFile fails (never skips) when a file a Debian package provides is missing.
func requireFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: install the Debian package %q (run e2e/install-deps.sh as root)", path, pkg)
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// serverBinary builds ./cmd/fileserver once per run, or uses $FILESERVER_E2E_BIN.
func serverBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("FILESERVER_E2E_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fileserver-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "fileserver")
		_, _, buildErr = run(context.Background(), 3*time.Minute, nil, "go", "build", "-o", builtBin, "../cmd/fileserver")
	})
	if buildErr != nil {
		t.Fatalf("building ../cmd/fileserver: %v", buildErr)
	}
	return builtBin
}
