package testpeers

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// S3 credentials of the servers S3 starts.
const (
	S3AccessKey = "testkey"
	S3SecretKey = "testsecret12345"
)

// S3 starts an S3-compatible server (versitygw, posix backend in a temporary directory) on a
// free loopback port for the test and returns its endpoint URL; it is stopped when the test
// ends. versitygw is looked up on the PATH and in $(go env GOPATH)/bin, where
// e2e/install-deps.sh puts it. Without it the test is skipped, unless FILESERVER_TEST_PEERS
// is "require" (the full test command), when it fails.
func S3(t testing.TB) (endpoint string) {
	t.Helper()
	bin := versitygw()
	if bin == "" {
		missing(t, "versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0, or e2e/install-deps.sh)")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--port", addr, "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+S3AccessKey, "ROOT_SECRET_KEY="+S3SecretKey)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = dieWithTest()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitTCP(t, addr, 20*time.Second, func() string { return out.String() })
	return "http://" + addr
}

func versitygw() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	p := filepath.Join(strings.Split(strings.TrimSpace(string(gopath)), ":")[0], "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// dieWithTest makes a peer die with the test binary, also when that is killed (a test
// timeout) before its cleanups run.
func dieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// missing skips the test for want of a peer, or fails it when peers are required.
func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("FILESERVER_TEST_PEERS") == "require" {
		t.Fatalf("%s is not installed, and FILESERVER_TEST_PEERS=require", what)
	}
	t.Skipf("%s is not installed: skipped (set FILESERVER_TEST_PEERS=require to fail instead)", what)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitTCP(t testing.TB, addr string, within time.Duration, output func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %v: %s", addr, within, output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
