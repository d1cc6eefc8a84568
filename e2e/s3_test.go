//go:build e2e

package e2e

// TestS3Backend: fileserver on a real S3 server (versitygw, Apache-2.0; installed by
// install-deps.sh) with storage.backend = "s3". Signed PUTs land as objects, a second PUT of
// a name is refused without touching the first, downloads proxy Range and HEAD to the
// object, a missing bucket stops start-up with a clear message, and an S3 server that dies
// mid-upload gives the client a clean 5xx while the server's goroutines settle back.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"fileserver/internal/testkit"
)

const (
	s3AccessKey = "fileserver-e2e"
	s3SecretKey = "fileserver-e2e-secret-key"
)

// versitygw is one running S3 server.
type versitygw struct {
	endpoint string // http://127.0.0.1:PORT
	proc     *proc
	client   *minio.Client
}

// versitygwBinary is where install-deps.sh puts versitygw: $(go env GOPATH)/bin.
func versitygwBinary(t *testing.T) string {
	t.Helper()
	out, _, err := run(context.Background(), 30*time.Second, nil, "go", "env", "GOPATH")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(strings.TrimSpace(strings.Split(out, ":")[0]), "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run e2e/install-deps.sh (it runs go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)", bin)
	}
	return bin
}

func startVersitygw(t *testing.T) *versitygw {
	t.Helper()
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	env := []string{"ROOT_ACCESS_KEY=" + s3AccessKey, "ROOT_SECRET_KEY=" + s3SecretKey}
	p := startProc(t, "versitygw", dir, env, versitygwBinary(t), "--port", addr, "posix", dir)
	p.waitTCP(t, addr, 20*time.Second)
	client, err := minio.New(addr, &minio.Options{
		Creds: credentials.NewStaticV4(s3AccessKey, s3SecretKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &versitygw{endpoint: "http://" + addr, proc: p, client: client}
}

func (g *versitygw) makeBucket(t *testing.T, name string) {
	t.Helper()
	if err := g.client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
}

// startS3Fileserver runs fileserver on bucket of g, configured by env only, the secret key
// through FILESERVER_STORAGE_S3_SECRET_KEY_FILE. With wait unset it returns at once (for a
// server expected to stop).
func startS3Fileserver(t *testing.T, g *versitygw, bucket string, wait bool) *fileserver {
	t.Helper()
	dir := t.TempDir()
	port := testkit.FreePort(t)
	keyFile := filepath.Join(dir, "s3-secret")
	if err := os.WriteFile(keyFile, []byte(s3SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := &fileserver{base: fmt.Sprintf("http://127.0.0.1:%d", port), secret: strings.Repeat("e2e-s3-secret-", 3)}
	env := []string{
		"FILESERVER_SERVER_LISTEN=" + fmt.Sprintf("127.0.0.1:%d", port),
		"FILESERVER_SERVER_PUBLIC_URL=" + fs.base,
		"FILESERVER_STORAGE_PATH=" + filepath.Join(dir, "data"),
		"FILESERVER_AUTH_SECRET=" + fs.secret,
		"FILESERVER_UPLOAD_MAX_SIZE=1GiB",
		"FILESERVER_STORAGE_BACKEND=s3",
		"FILESERVER_STORAGE_S3_ENDPOINT=" + g.endpoint,
		"FILESERVER_STORAGE_S3_BUCKET=" + bucket,
		"FILESERVER_STORAGE_S3_ACCESS_KEY=" + s3AccessKey,
		"FILESERVER_STORAGE_S3_SECRET_KEY_FILE=" + keyFile,
		"FILESERVER_STORAGE_S3_PATH_STYLE=true",
		"FILESERVER_STORAGE_S3_PREFIX=up/",
		"FILESERVER_LOG_FORMAT=json",
		"FILESERVER_SESSIONS_SINGLE_NODE=true",
	}
	fs.proc = startProc(t, "fileserver-s3", dir, env, serverBinary(t), "serve")
	if wait {
		fs.proc.waitHTTP200(t, fs.base+"/readyz", 20*time.Second)
	}
	return fs
}

// putURL signs a v1 PUT of path (below /upload/) for size bytes.
func (fs *fileserver) putURL(path string, size int) string {
	mac := hmac.New(sha256.New, []byte(fs.secret))
	fmt.Fprintf(mac, "%s %d", path, size)
	return fs.base + "/upload/" + path + "?v=" + hex.EncodeToString(mac.Sum(nil))
}

func (fs *fileserver) put(t *testing.T, path string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, fs.putURL(path, len(body)), bytes.NewReader(body))
	req.Header.Set("Content-Type", "video/mp4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestS3Backend(t *testing.T) {
	g := startVersitygw(t)
	g.makeBucket(t, "files")
	fs := startS3Fileserver(t, g, "files", true)

	big := testkit.Random(t, 20<<20+12345) // three 8 MiB parts, the last one short
	small := testkit.Random(t, 3000)
	t.Run("put", func(t *testing.T) {
		for _, f := range []struct {
			path string
			data []byte
		}{{"room/big.mp4", big}, {"room/small.mp4", small}} {
			if code := fs.put(t, f.path, f.data); code != http.StatusCreated {
				t.Fatalf("PUT %s: %d, want 201", f.path, code)
			}
			if code := fs.put(t, f.path, testkit.Random(t, len(f.data))); code != http.StatusConflict {
				t.Fatalf("second PUT %s: %d, want 409", f.path, code)
			}
			checkDownload(t, fs.base+"/upload/"+f.path, f.data, "video/mp4")
			// The object is where prefix + name says, with the content type as metadata.
			info, err := g.client.StatObject(context.Background(), "files", "up/"+f.path, minio.StatObjectOptions{})
			if err != nil || info.Size != int64(len(f.data)) || info.ContentType != "video/mp4" {
				t.Fatalf("object up/%s: %+v, %v", f.path, info, err)
			}
		}
		for u := range g.client.ListIncompleteUploads(context.Background(), "files", "", true) {
			t.Errorf("multipart upload left behind: %s", u.Key)
		}
	})
	t.Run("range and head", func(t *testing.T) {
		url := fs.base + "/upload/room/big.mp4"
		resp, body := rangeGet(t, url, 9000000, 9000999)
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, big[9000000:9001000]) ||
			resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 9000000-9000999/%d", len(big)) {
			t.Fatalf("Range GET: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
		}
		resp, err := http.Head(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != strconv.Itoa(len(big)) ||
			resp.Header.Get("Etag") == "" || resp.Header.Get("Last-Modified") == "" {
			t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("missing bucket", func(t *testing.T) {
		bad := startS3Fileserver(t, g, "no-such-bucket", false)
		select {
		case <-bad.proc.exited:
		case <-time.After(20 * time.Second):
			t.Fatal("fileserver did not stop on a missing bucket")
		}
		if bad.proc.waitErr == nil {
			t.Fatal("fileserver exited 0 on a missing bucket")
		}
		if want := `bucket \"no-such-bucket\" does not exist`; !bad.proc.logContains(want) {
			t.Fatalf("log does not say %s:\n%s", want, tail(bad.proc.logPath, 10))
		}
	})
}

// rangeGet asks url for bytes first-last (following redirects) and returns the response and
// its body.
func rangeGet(t *testing.T, url string, first, last int) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", first, last))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

// TestS3ServerDiesMidUpload kills versitygw while a PUT streams in: the client gets a 5xx
// (not a hang, not a 201), and the server's goroutines come back to where they were.
func TestS3ServerDiesMidUpload(t *testing.T) {
	g := startVersitygw(t)
	g.makeBucket(t, "files")
	fs := startS3Fileserver(t, g, "files", true)
	// Warm up connections and goroutines of the kind every request has, then measure.
	warm := testkit.Random(t, 10<<20)
	if code := fs.put(t, "warm.bin", warm); code != http.StatusCreated {
		t.Fatalf("warm-up PUT: %d", code)
	}
	checkDownload(t, fs.base+"/upload/warm.bin", warm, "")
	baseline := settledGoroutines(t, fs, -1)

	const size = 200 << 20
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPut, fs.putURL("dies.bin", size), pr)
	req.ContentLength = size
	done := make(chan struct{})
	var resp *http.Response
	var reqErr error
	go func() {
		defer close(done)
		resp, reqErr = http.DefaultClient.Do(req)
	}()
	chunk := testkit.Random(t, 1<<20)
	sent := 0
	for sent < size {
		if sent == 30<<20 {
			syscall.Kill(-g.proc.cmd.Process.Pid, syscall.SIGKILL)
			<-g.proc.exited
		}
		if _, err := pw.Write(chunk); err != nil {
			break // the server gave up on the body
		}
		sent += len(chunk)
		time.Sleep(2 * time.Millisecond)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("no answer 60 s after the S3 server died")
	}
	if reqErr != nil {
		t.Fatalf("PUT: %v, want a 5xx answer (sent %d MiB)", reqErr, sent>>20)
	}
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Fatalf("PUT: %d, want a 5xx", resp.StatusCode)
	}
	t.Logf("PUT answered %d after %d MiB of %d", resp.StatusCode, sent>>20, size>>20)
	got := settledGoroutines(t, fs, baseline)
	t.Logf("go_goroutines: %d before the upload, %d after", baseline, got)
	if got > baseline+2 {
		t.Fatalf("go_goroutines %d after the failed upload, %d before: a goroutine leaked", got, baseline)
	}
}

// settledGoroutines polls the server's go_goroutines until it is at most want+2 (or, with
// want < 0, stable for three reads), for up to 15 s, and returns the last value.
func settledGoroutines(t *testing.T, fs *fileserver, want int) int {
	t.Helper()
	last, same := -1, 0
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		n := goroutines(t, fs)
		if want >= 0 && n <= want+2 {
			return n
		}
		if n == last {
			if same++; want < 0 && same >= 2 {
				return n
			}
		} else {
			last, same = n, 0
		}
		time.Sleep(300 * time.Millisecond)
	}
	return last
}

func goroutines(t *testing.T, fs *fileserver) int {
	t.Helper()
	resp, err := http.Get(fs.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	t.Fatal("no go_goroutines in /metrics")
	return 0
}
