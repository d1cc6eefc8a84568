// Package testpeers starts the real services fileserver talks to (Redis, an S3 server) for
// tests: each test gets its own throwaway instance on a free loopback port, stopped when the
// test ends. Only tests import it; it never fakes a peer.
package testpeers

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Redis starts a redis-server on a free local port, without persistence, and returns its URL
// (redis://127.0.0.1:port/0). The server is stopped when the test ends.
func Redis(t testing.TB) (url string) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server (Debian: apt-get install redis-server)")
	}
	dir := t.TempDir()
	// The port is free when picked but may be taken before redis-server binds it: try again.
	var lastErr error
	for range 5 {
		addr, err := startRedis(t, bin, dir)
		if err == nil {
			return "redis://" + addr + "/0"
		}
		lastErr = err
	}
	t.Fatal(lastErr)
	return ""
}

// startRedis starts one redis-server and waits until it answers.
func startRedis(t testing.TB, bin, dir string) (addr string, err error) {
	addr = freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir)
	var out bytes.Buffer // read only once the process has exited
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = dieWithTest()
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("testpeers: start redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The server that answers must be ours, not one that took the port first.
		if pid, ok := serverPID(addr); ok {
			if pid == cmd.Process.Pid {
				t.Cleanup(func() {
					cmd.Process.Kill()
					<-exited
				})
				return addr, nil
			}
			cmd.Process.Kill()
			<-exited
			return "", fmt.Errorf("testpeers: port %s was taken by another redis-server", port)
		}
		select {
		case err := <-exited:
			return "", fmt.Errorf("testpeers: redis-server on %s exited (%v): %s", addr, err, strings.TrimSpace(out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return "", fmt.Errorf("testpeers: redis-server on %s did not answer within 10s: %s", addr, strings.TrimSpace(out.String()))
		}
	}
}

// serverPID asks the Redis server at addr for its process id (INFO server).
func serverPID(addr string) (int, bool) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("INFO server\r\n")); err != nil {
		return 0, false
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		return 0, false // "-LOADING ...": not ready yet
	}
	size, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		return 0, false
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			return pid, err == nil
		}
	}
	return 0, false
}
