package testpeers

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Signature is a file the test's clamd takes for malware: its MD5 and size go into a hash
// database (.hdb) of its own (signature updates cannot be downloaded here, and need not be).
type Signature struct {
	Name    string
	Content []byte
}

// Clamd starts Debian's clamd with a database of the given signatures only, listening on a
// unix socket in a temporary directory, and returns the socket's path. clamd is stopped when
// the test ends. Streams up to 2 GiB are taken (INSTREAM), so the size limit under test is
// fileserver's.
func Clamd(t testing.TB, sigs ...Signature) (socket string) {
	t.Helper()
	return ClamdWith(t, "StreamMaxLength 2000M\n", sigs...)
}

// ClamdWith is Clamd with more clamd.conf lines (which may set StreamMaxLength).
func ClamdWith(t testing.TB, extra string, sigs ...Signature) (socket string) {
	t.Helper()
	bin, err := exec.LookPath("clamd")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/clamd"); err != nil {
			missing(t, "clamd (Debian: apt-get install clamav-daemon)")
		}
		bin = "/usr/sbin/clamd"
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	var hdb bytes.Buffer
	for _, s := range sigs {
		sum := md5.Sum(s.Content)
		fmt.Fprintf(&hdb, "%s:%d:%s\n", hex.EncodeToString(sum[:]), len(s.Content), s.Name)
	}
	if len(sigs) == 0 {
		// clamd will not start without a database: one that matches nothing anyone sends.
		fmt.Fprintf(&hdb, "%s:1:Fileserver.Test.Nothing\n", hex.EncodeToString(make([]byte, 16)))
	}
	if err := os.WriteFile(filepath.Join(db, "fileserver-test.hdb"), hdb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	socket = filepath.Join(dir, "clamd.sock")
	conf := filepath.Join(dir, "clamd.conf")
	os.WriteFile(conf, []byte("LocalSocket "+socket+"\nDatabaseDirectory "+db+"\nForeground yes\nTemporaryDirectory "+dir+
		"\nMaxFileSize 2000M\nMaxScanSize 2000M\nUser root\nLogFile "+filepath.Join(dir, "clamd.log")+"\n"+extra), 0o644)
	cmd := exec.Command(bin, "-c", conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = dieWithTest()
	if err := cmd.Start(); err != nil {
		t.Fatalf("testpeers: start clamd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(socket); err == nil {
			return socket
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			t.Fatalf("testpeers: clamd exited: %s\n%s", out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testpeers: clamd did not open %s within a minute (pid %s)", socket, strconv.Itoa(cmd.Process.Pid))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
