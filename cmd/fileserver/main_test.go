package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"fileserver/internal/hmacauth"
	"fileserver/internal/testkit"
)

// binary is the fileserver built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fileserver-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "fileserver")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server runs `fileserver serve` with a clean environment plus env.
type server struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
}

// syncBuffer is a buffer a writer goroutine and the test may share.
type syncBuffer = testkit.SyncBuffer

func startServer(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	return startServerAt(t, testkit.FreeAddr(t), env, args...)
}

// startServerAt is startServer listening on addr (which may be 0.0.0.0:port), reached at
// 127.0.0.1 on the same port.
func startServerAt(t *testing.T, listen string, env []string, args ...string) *server {
	t.Helper()
	_, port, _ := net.SplitHostPort(listen)
	addr := "127.0.0.1:" + port
	s := &server{addr: addr, logs: &syncBuffer{}}
	s.cmd = execServe(env, append([]string{"--listen", listen}, args...)...)
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not become ready; log:\n%s", s.logs)
	return nil
}

// execServe prepares `fileserver serve args...` with a clean environment plus env.
func execServe(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, append([]string{"serve"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	return cmd
}

func runCLI(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// On embedded defaults with no secret, serve generates one (0600) and never logs it; sign
// finds it, and a curl-style PUT of the signed URL is stored and served back.
func TestDefaultsGeneratedSecretSignAndUpload(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, nil, "--storage", data)
	st, err := os.Stat(filepath.Join(data, ".secret"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("generated secret: %v mode %v", err, st.Mode())
	}
	secret, _ := os.ReadFile(filepath.Join(data, ".secret"))
	if strings.Contains(s.logs.String(), strings.TrimSpace(string(secret))) {
		t.Fatal("the secret appears in the log")
	}
	for _, proto := range []string{"v1", "v2", "v3"} {
		body := []byte("hello from " + proto)
		out, errOut, code := runCLI(t, nil, "sign", "--storage", data, "--listen", s.addr,
			"--protocol", proto, "--path", "cli/"+proto+" ü.txt", "--size", itoa(len(body)))
		if code != 0 {
			t.Fatalf("sign %s: %d %s", proto, code, errOut)
		}
		u := strings.TrimSpace(out)
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s PUT %s: %s", proto, u, resp.Status)
		}
		get, err := http.Get(strings.SplitN(u, "?", 2)[0])
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(get.Body)
		get.Body.Close()
		if !bytes.Equal(got, body) {
			t.Fatalf("%s: downloaded %q", proto, got)
		}
	}
	// The log has one event per request, with the path but never the query's signature.
	// Request events are written in batches, within log.flush_interval (1s).
	logs := s.logs.String()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs, `"status":201`) && time.Now().Before(deadline); logs = s.logs.String() {
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(logs, "v=") || strings.Contains(logs, "v2=") || strings.Contains(logs, "v3=") {
		t.Fatalf("a signature reached the log:\n%s", logs)
	}
	if !strings.Contains(logs, `"path":"/upload/cli/v2 ü.txt"`) || !strings.Contains(logs, `"status":201`) {
		t.Fatalf("request events missing from the log:\n%s", logs)
	}
	// token: prints the URL and the Authorization header.
	out, _, code := runCLI(t, nil, "sign", "--storage", data, "--listen", s.addr, "--protocol", "token",
		"--path", "t.bin", "--size", "3", "--type", "application/octet-stream")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[1], "Authorization: Bearer ") {
		t.Fatalf("token sign output %q", out)
	}
	req, _ := http.NewRequest(http.MethodPut, lines[0], strings.NewReader("abc"))
	req.Header.Set("Authorization", strings.TrimPrefix(lines[1], "Authorization: "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("token PUT: %v %v", err, resp)
	}
	if tok := strings.TrimPrefix(lines[1], "Authorization: Bearer "); strings.Contains(s.logs.String(), tok[strings.LastIndexByte(tok, '.'):]) {
		t.Fatal("the token's signature reached the log")
	}
}

func TestSignWithoutSecretFails(t *testing.T) {
	_, errOut, code := runCLI(t, nil, "sign", "--storage", t.TempDir(), "--path", "a", "--size", "1")
	if code == 0 || !strings.Contains(errOut, "secret") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestInvalidConfigExitsNamingTheKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(p, []byte("[upload]\nmax_size = \"huge\"\n"), 0o600)
	_, errOut, code := runCLI(t, nil, "config", "check", p)
	if code == 0 || !strings.Contains(errOut, "upload.max_size") || !strings.Contains(errOut, p+":2") {
		t.Fatalf("config check: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "serve", "--config", p)
	if code == 0 || !strings.Contains(errOut, "upload.max_size") {
		t.Fatalf("serve: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, []string{"FILESERVER_SERVER_LISTEN=nope"}, "serve")
	if code == 0 || !strings.Contains(errOut, "server.listen") {
		t.Fatalf("env: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "serve", "--set", "auth.secret=short")
	if code == 0 || !strings.Contains(errOut, "auth.secret") {
		t.Fatalf("short secret: code %d, stderr %q", code, errOut)
	}
	out, _, code := runCLI(t, nil, "config", "check", "../../config-adaptive.toml")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("documented config rejected: %d %q", code, out)
	}
}

// Several nodes (sessions in Redis) must share one secret: a node does not generate its own.
func TestSharedSessionsNeedASecret(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := runCLI(t, nil, "serve", "--storage", dir, "--set", "sessions.store=redis", "--set", "sessions.redis_url=redis://127.0.0.1:1")
	if code == 0 || !strings.Contains(errOut, "auth.secret") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, ".secret")); err == nil {
		t.Fatal("a secret was generated anyway")
	}
}

// SIGTERM: /readyz turns 503 while an upload in flight finishes, then the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	data := t.TempDir()
	secret := "drain-secret-0123456789-0123456789-abcdef"
	s := startServer(t, []string{"FILESERVER_AUTH_SECRET=" + secret}, "--storage", data)
	out, _, _ := runCLI(t, []string{"FILESERVER_AUTH_SECRET=" + secret}, "sign", "--listen", s.addr,
		"--protocol", "v1", "--path", "slow.bin", "--size", "10")
	u := strings.TrimSpace(out)
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	path := u[strings.Index(u, "/upload/"):]
	io.WriteString(conn, "PUT "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
	time.Sleep(200 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGTERM)
	ready := 0
	for i := 0; i < 100 && ready != http.StatusServiceUnavailable; i++ {
		// A new connection may be refused once the listener is closed; that is draining too.
		if resp, err := http.Get("http://" + s.addr + "/readyz"); err == nil {
			ready = resp.StatusCode
			resp.Body.Close()
		} else {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	io.WriteString(conn, "world")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "201") {
		t.Fatalf("in-flight upload during drain: %q %v", line, err)
	}
	conn.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after drain: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
	if b, err := os.ReadFile(filepath.Join(data, "files", "slow.bin")); err != nil || string(b) != "helloworld" {
		t.Fatalf("drained upload stored %q %v", b, err)
	}
}

func TestVersionAndUsage(t *testing.T) {
	out, _, code := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "fileserver ") {
		t.Fatalf("version: %d %q", code, out)
	}
	_, errOut, code := runCLI(t, nil, "frobnicate")
	if code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
}

func TestHealthcheck(t *testing.T) {
	s := startServer(t, nil, "--storage", t.TempDir())
	if _, errOut, code := runCLI(t, nil, "healthcheck", "--listen", s.addr); code != 0 {
		t.Fatalf("healthcheck on a live server: %d %s", code, errOut)
	}
	if _, _, code := runCLI(t, nil, "healthcheck", "--listen", testkit.FreeAddr(t)); code == 0 {
		t.Fatal("healthcheck passed with no server")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestGCDryRunThenRemove(t *testing.T) {
	data := t.TempDir()
	secret := "gc-secret-0123456789-0123456789-abcdefghij"
	env := []string{"FILESERVER_AUTH_SECRET=" + secret}
	s := startServer(t, env, "--storage", data)
	out, _, _ := runCLI(t, env, "sign", "--listen", s.addr, "--protocol", "v1", "--path", "old/file.txt", "--size", "2")
	req, _ := http.NewRequest(http.MethodPut, strings.TrimSpace(out), strings.NewReader("hi"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %v %v", err, resp)
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	out, _, code := runCLI(t, env, "gc", "--storage", data, "--dry-run")
	if code != 0 || !strings.Contains(out, "would remove 0 files") {
		t.Fatalf("gc without a ttl: %d %q", code, out)
	}
	out, _, code = runCLI(t, env, "gc", "--storage", data, "--dry-run", "--set", "upload.ttl=1ns")
	if code != 0 || !strings.Contains(out, "would remove old/file.txt") {
		t.Fatalf("gc --dry-run: %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(data, "files", "old", "file.txt")); err != nil {
		t.Fatal("dry run removed the file")
	}
	out, _, code = runCLI(t, env, "gc", "--storage", data, "--set", "upload.ttl=1ns")
	if code != 0 || !strings.Contains(out, "removed 1 files") {
		t.Fatalf("gc: %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(data, "files", "old")); !os.IsNotExist(err) {
		t.Fatal("file or its emptied directory left behind")
	}
}

// metrics.listen moves /metrics off the public listener; an address that cannot bind stops
// start-up with the reason.
func TestMetricsOnSeparateListener(t *testing.T) {
	maddr := testkit.FreeAddr(t)
	s := startServer(t, nil, "--storage", t.TempDir(), "--set", "metrics.listen="+maddr)
	if resp, err := http.Get("http://" + s.addr + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("metrics on the main listener: %v %v", err, resp)
	}
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics listener: %v %v", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "fileserver_http_requests_total") {
		t.Fatal("metrics listener serves no fileserver metrics")
	}
	// The address is taken now: a second server must refuse to start.
	_, errOut, code := runCLI(t, nil, "serve", "--storage", t.TempDir(), "--listen", testkit.FreeAddr(t), "--set", "metrics.listen="+maddr)
	if code == 0 || !strings.Contains(errOut, "metrics.listen") {
		t.Fatalf("bind failure: code %d, stderr %q", code, errOut)
	}
}

// The scale-out example's node configs are valid as shipped (with the secret from the
// environment, as they say).
func TestScaleOutExampleConfigs(t *testing.T) {
	env := []string{"FILESERVER_AUTH_SECRET=" + strings.Repeat("s", 40)}
	for _, f := range []string{"node-a.toml", "node-b.toml"} {
		out, errOut, code := runCLI(t, env, "config", "check", "../../deploy/scaleout/"+f)
		if code != 0 || !strings.Contains(out, "ok") {
			t.Errorf("%s: code %d, %q %q", f, code, out, errOut)
		}
	}
}

// `fileserver upload - URL` sends standard input, a pipe, under the name --name gives.
func TestUploadFromStdin(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, nil, "--storage", data)
	payload := bytes.Repeat([]byte("piped through fileserver upload\n"), 100_000)
	cmd := exec.Command(binary, "upload", "--storage", data, "--sign", "--quiet", "--name", "log.txt", "--chunk-size", "1MiB", "-", "http://"+s.addr+"/files/")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdin = io.MultiReader(bytes.NewReader(payload)) // a reader, not a file: a pipe
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("upload -: %v\n%s", err, errb.String())
	}
	var res struct {
		FileURL  string `json:"file_url"`
		Size     int64  `json:"size"`
		Verified bool   `json:"verified"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || !res.Verified || res.Size != int64(len(payload)) || !strings.HasSuffix(res.FileURL, "/log.txt") {
		t.Fatalf("result %q (%v)", out.String(), err)
	}
	resp, err := http.Get(res.FileURL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, payload) {
		t.Fatalf("served %d bytes that differ from the %d piped", len(got), len(payload))
	}
}

// Without server.public_url, links name the listen address, never the Host a client sends;
// start-up warns when that address is not loopback (links built from it are a guess).
func TestLinksWithoutPublicURL(t *testing.T) {
	port := testkit.FreeAddr(t)
	_, p, _ := net.SplitHostPort(port)
	s := startServerAt(t, "0.0.0.0:"+p, nil, "--storage", t.TempDir(), "--set", "auth.secret="+strings.Repeat("k", 32))
	if !strings.Contains(s.logs.String(), "server.public_url is empty") {
		t.Fatalf("no warning about the missing public_url; log:\n%s", s.logs)
	}
	host, _ := os.Hostname()
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:"+p+"/upload/a.txt?v="+hmacauth.SignV1(strings.Repeat("k", 32), "a.txt", 3), strings.NewReader("abc"))
	req.Host = "evil.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusCreated || loc != "http://"+net.JoinHostPort(host, p)+"/upload/a.txt" {
		t.Fatalf("PUT: %d, Location %q; want 201 and a link to this host's name", resp.StatusCode, loc)
	}
	// On loopback nobody else can follow a link anyway: no warning.
	quiet := startServer(t, nil, "--storage", t.TempDir())
	if strings.Contains(quiet.logs.String(), "public_url is empty") {
		t.Fatalf("warning on a loopback listener; log:\n%s", quiet.logs)
	}
}

// SIGTERM while an upload streams in for longer than server.shutdown_timeout: the upload is
// cut off, keeps what arrived (with checkpoints off, so this is the shutdown's doing), the
// client gets its offset, and the server restarted on the same storage resumes from there.
func TestSIGTERMKeepsWhatArrived(t *testing.T) {
	data := t.TempDir()
	secret := "sigterm-secret-0123456789-0123456789-abc"
	env := []string{"FILESERVER_AUTH_SECRET=" + secret}
	args := []string{"--storage", data, "--set", "server.shutdown_timeout=1s",
		"--set", "resumable.checkpoint_bytes=0", "--set", "resumable.checkpoint_interval=0"}
	s := startServer(t, env, args...)
	exp := time.Now().Add(time.Hour).Unix()
	create, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/files/?v3="+hmacauth.SignV3(secret, "POST", "/files/", exp)+
		"&expires="+strconv.FormatInt(exp, 10), nil)
	create.Header.Set("Tus-Resumable", "1.0.0")
	create.Header.Set("Upload-Length", strconv.Itoa(8<<20))
	resp, err := http.DefaultClient.Do(create)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("creation: %v %v", resp, err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	path := loc[strings.Index(loc, "/files/"):]

	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"+
		"Upload-Offset: 0\r\nContent-Length: %d\r\n\r\n", path, 8<<20)
	piece := bytes.Repeat([]byte("z"), 64<<10)
	for range 48 { // 3 MiB at once, then a trickle that keeps the request alive
		conn.Write(piece)
	}
	go func() {
		for {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write(piece); err != nil {
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGTERM)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	answer, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the PATCH cut off by the shutdown: %v", err)
	}
	answer.Body.Close()
	off, _ := strconv.Atoi(answer.Header.Get("Upload-Offset"))
	if answer.StatusCode != http.StatusNoContent || off < 3<<20 {
		t.Fatalf("PATCH cut off by the shutdown: %d, Upload-Offset %q; want 204 and at least the 3 MiB sent", answer.StatusCode, answer.Header.Get("Upload-Offset"))
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
	again := startServer(t, env, args...)
	head, _ := http.NewRequest(http.MethodHead, "http://"+again.addr+path, nil)
	head.Header.Set("Tus-Resumable", "1.0.0")
	hr, err := http.DefaultClient.Do(head)
	if err != nil || hr.Header.Get("Upload-Offset") != strconv.Itoa(off) {
		t.Fatalf("HEAD after the restart: %v %v, want Upload-Offset %d", hr, err, off)
	}
}

// The build every packaging uses (scripts/build.sh) stamps the version and revision, also
// where Go's own VCS stamping is off (GOFLAGS=-buildvcs=false, a build without .git).
func TestVersionStamped(t *testing.T) {
	out := filepath.Join(t.TempDir(), "fileserver")
	cmd := exec.Command("../../scripts/build.sh", out)
	cmd.Env = append(os.Environ(), "VERSION=v9.9.9-test", "REVISION=0123abcd", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, b)
	}
	v, err := exec.Command(out, "version").Output()
	if err != nil || !strings.Contains(string(v), "v9.9.9-test") || !strings.Contains(string(v), "revision 0123abcd") {
		t.Fatalf("version: %q %v", v, err)
	}
}

// sign --resumable makes the URL a web app's backend hands tus-js-client or Uppy: it creates
// a tus upload (v3), or names the endpoint and a token; a --base that already ends with the
// upload prefix (as Prosody's config spells it) does not double it.
func TestSignResumableAndBase(t *testing.T) {
	secret := "sign-secret-0123456789-0123456789-abcdefgh"
	env := []string{"FILESERVER_AUTH_SECRET=" + secret}
	s := startServer(t, env, "--storage", t.TempDir())
	create := func(u string, hdr ...string) int {
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", "5")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	out, errOut, code := runCLI(t, env, "sign", "--resumable", "--base", "http://"+s.addr)
	if code != 0 || create(strings.TrimSpace(out)) != http.StatusCreated {
		t.Fatalf("sign --resumable: %d %q %q", code, out, errOut)
	}
	out, _, code = runCLI(t, env, "sign", "--resumable", "--protocol", "token", "--path", "clip.mp4", "--size", "5", "--base", "http://"+s.addr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || create(lines[0], "Authorization", strings.TrimPrefix(lines[1], "Authorization: ")) != http.StatusCreated {
		t.Fatalf("sign --resumable --protocol token: %d %q", code, out)
	}
	out, _, _ = runCLI(t, env, "sign", "--protocol", "v1", "--path", "a.txt", "--size", "3", "--base", "https://upload.example.org/upload/")
	if !strings.HasPrefix(out, "https://upload.example.org/upload/a.txt?v=") {
		t.Fatalf("--base ending with the prefix: %q", out)
	}
}

// An empty pipe (a producer that failed) is refused unless asked for; a download's result
// names no upload URL.
func TestUploadEmptyStdinAndDownloadResult(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, nil, "--storage", data)
	run := func(stdin io.Reader, args ...string) (string, string, error) {
		cmd := exec.Command(binary, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		cmd.Stdin = stdin
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	endpoint := "http://" + s.addr + "/files/"
	if _, errOut, err := run(strings.NewReader(""), "upload", "--storage", data, "--sign", "--quiet", "-", endpoint); err == nil || !strings.Contains(errOut, "empty") {
		t.Fatalf("empty stdin: %v %q; want a refusal", err, errOut)
	}
	out, errOut, err := run(strings.NewReader(""), "upload", "--storage", data, "--sign", "--quiet", "--allow-empty", "--name", "e.txt", "-", endpoint)
	if err != nil {
		t.Fatalf("--allow-empty: %v %q", err, errOut)
	}
	var res struct {
		FileURL string `json:"file_url"`
	}
	json.Unmarshal([]byte(out), &res)
	out, errOut, err = run(nil, "download", "--quiet", res.FileURL, filepath.Join(t.TempDir(), "e.txt"))
	if err != nil || strings.Contains(out, "upload_url") {
		t.Fatalf("download: %v %q %q; want no upload_url", err, out, errOut)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"http://h/files/abc":           "http://h/files/abc",
		"http://h/files/?v3=x&expires": "'http://h/files/?v3=x&expires'",
		"it's":                         `'it'\''s'`,
		"":                             "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
