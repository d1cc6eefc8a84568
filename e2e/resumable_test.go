//go:build e2e

package e2e

// Resumable uploads end to end, against the real binary:
//   TestTusJSClientResume      tus-js-client (npm, pinned in tusjs/) aborts mid-upload in one
//                              node process and a second one resumes it from the upload URL.
//   TestCrashKill9Resume       kill -9 the server while a tus PATCH is in flight, restart it on
//                              the same data dir: no acknowledged byte is lost.
//   TestHandoffLatency         a HEAD takes a session over from a PATCH whose client went silent.
//   TestCurlContentRangeResume an interrupted `curl -T` of a signed v2 URL is continued with
//                              `curl -C OFFSET -T`.
//
// Needs node (Debian nodejs), tusjs/node_modules (npm ci) and curl: e2e/install-deps.sh.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"fileserver/internal/hmacauth"
	"fileserver/internal/testkit"
)

const (
	tusResumable  = "1.0.0"
	tusChunkType  = "application/offset+octet-stream"
	resumablePath = "/files/"
	tusJSVersion  = "4.3.1" // must equal tusjs/package.json
)

// resumableServer is a fileserver whose data dir and port outlive one process, so that it
// can be killed and started again on the same state.
type resumableServer struct {
	base, addr, secret, dir string
	starts                  int
	proc                    *proc
	// env is added to the environment of every start (other storage, other sessions).
	env []string
}

func newResumableServer(t *testing.T) *resumableServer {
	t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	return newResumableServerWith(t, hex.EncodeToString(secret), nil)
}

// newResumableServerWith starts a resumableServer with the given secret and extra environment.
func newResumableServerWith(t *testing.T, secret string, env []string) *resumableServer {
	t.Helper()
	port := testkit.FreePort(t)
	s := &resumableServer{
		addr:   fmt.Sprintf("127.0.0.1:%d", port),
		secret: secret,
		dir:    t.TempDir(),
		env:    env,
	}
	s.base = "http://" + s.addr
	s.start(t)
	return s
}

// start runs the binary on the server's port and data dir with the default (syncing) storage
// and waits until it is ready.
func (s *resumableServer) start(t *testing.T) {
	t.Helper()
	s.starts++
	env := []string{
		"FILESERVER_SERVER_LISTEN=" + s.addr,
		"FILESERVER_SERVER_PUBLIC_URL=" + s.base,
		"FILESERVER_STORAGE_PATH=" + filepath.Join(s.dir, "data"),
		"FILESERVER_AUTH_SECRET=" + s.secret,
		"FILESERVER_UPLOAD_PREFIX=/upload/",
		"FILESERVER_UPLOAD_MAX_SIZE=256MiB",
		"FILESERVER_RESUMABLE_PREFIX=" + resumablePath,
	}
	env = append(env, s.env...)
	s.proc = startProc(t, fmt.Sprintf("fileserver-%d", s.starts), s.dir, env, serverBinary(t), "serve")
	s.proc.waitHTTP200(t, s.base+"/readyz", 20*time.Second)
}

// kill9 sends SIGKILL to the server's process group and waits (bounded) until it is gone.
func (s *resumableServer) kill9(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-s.proc.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", s.proc.cmd.Process.Pid, err)
	}
	select {
	case <-s.proc.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("fileserver did not exit within 10 s of SIGKILL")
	}
}

// creationURL is the tus endpoint with a v3 signature for POST, valid for an hour.
func (s *resumableServer) creationURL() string {
	exp := time.Now().Add(time.Hour).Unix()
	mac := hmacauth.SignV3(s.secret, http.MethodPost, resumablePath, exp)
	return s.base + resumablePath + "?v3=" + mac + "&expires=" + strconv.FormatInt(exp, 10)
}

// tusMetadata renders an Upload-Metadata header.
func tusMetadata(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+testkit.B64(kv[i+1]))
	}
	return strings.Join(parts, ",")
}

// tusCreate creates an upload of length bytes and returns its URL.
func (s *resumableServer) tusCreate(t *testing.T, length int64, filename string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.creationURL(), nil)
	req.Header.Set("Tus-Resumable", tusResumable)
	req.Header.Set("Upload-Length", strconv.FormatInt(length, 10))
	req.Header.Set("Upload-Metadata", tusMetadata("filename", filename, "filetype", "application/octet-stream"))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("tus POST %s: %v", resumablePath, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		t.Fatalf("tus POST %s (Upload-Length %d): status %d, Location %q, body %q", resumablePath, length, resp.StatusCode, loc, clip(body))
	}
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(u.Path, resumablePath) {
		t.Fatalf("tus POST: Location %q is not under %s", loc, resumablePath)
	}
	if !u.IsAbs() {
		loc = s.base + loc
	}
	return loc
}

// tusHead asks an upload's offset; it fails the test unless the answer is 200 with one.
func tusHead(t *testing.T, uploadURL string, timeout time.Duration) (int64, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, uploadURL, nil)
	req.Header.Set("Tus-Resumable", tusResumable)
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("tus HEAD %s: %v", uploadURL, err)
	}
	resp.Body.Close()
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("tus HEAD %s: status %d, Upload-Offset %q, want 200 with an offset", uploadURL, resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	return off, resp
}

// tusPatch sends body (n bytes) at offset and returns the status and the Upload-Offset of
// the answer (-1 when absent).
func tusPatch(client *http.Client, uploadURL string, offset int64, body io.Reader, n int64) (int, int64, error) {
	req, err := http.NewRequest(http.MethodPatch, uploadURL, body)
	if err != nil {
		return 0, -1, err
	}
	req.ContentLength = n
	req.Header.Set("Tus-Resumable", tusResumable)
	req.Header.Set("Content-Type", tusChunkType)
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	resp, err := client.Do(req)
	if err != nil {
		return 0, -1, err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	off, perr := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if perr != nil {
		off = -1
	}
	if resp.StatusCode != http.StatusNoContent {
		return resp.StatusCode, off, fmt.Errorf("PATCH at %d: status %d, body %q", offset, resp.StatusCode, clip(msg))
	}
	return resp.StatusCode, off, nil
}

// patchAll sends data[from:] in chunks of chunk bytes; each answer must acknowledge its end.
func patchAll(t *testing.T, uploadURL string, data []byte, from int64, chunk int64) {
	t.Helper()
	client := &http.Client{Timeout: 60 * time.Second}
	for off := from; off < int64(len(data)); {
		end := min(off+chunk, int64(len(data)))
		_, got, err := tusPatch(client, uploadURL, off, bytes.NewReader(data[off:end]), end-off)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if got != end {
			t.Fatalf("PATCH [%d, %d): Upload-Offset %d, want %d", off, end, got, end)
		}
		off = end
	}
}

// checkGet downloads url and compares it with want.
func checkGet(t *testing.T, what, url string, want []byte) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("%s: GET %s: %v", what, url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: GET %s: reading body: %v", what, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET %s: status %d, want 200; body %q", what, url, resp.StatusCode, clip(body))
	}
	if got, exp := testkit.SHA256(body), testkit.SHA256(want); got != exp {
		t.Fatalf("%s: GET %s: sha256 %s (%d bytes), uploaded %s (%d bytes)", what, url, got, len(body), exp, len(want))
	}
	t.Logf("%s: GET %s: %d bytes, sha256 %s matches", what, url, len(body), testkit.SHA256(body)[:16])
}

// checkCompleted: HEAD on a finished upload reports its full length, and the file is served
// at the upload URL and at the Content-Location the server names.
func checkCompleted(t *testing.T, s *resumableServer, uploadURL string, data []byte) {
	t.Helper()
	off, resp := tusHead(t, uploadURL, 10*time.Second)
	if off != int64(len(data)) {
		t.Fatalf("HEAD %s after the last PATCH: Upload-Offset %d, want %d", uploadURL, off, len(data))
	}
	checkGet(t, "upload URL", uploadURL, data)
	if cl := resp.Header.Get("Content-Location"); cl != "" {
		if !strings.HasPrefix(cl, "http") {
			cl = s.base + cl
		}
		checkGet(t, "Content-Location", cl, data)
	}
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---------------------------------------------------------------- tus-js-client

// tusJSResult is what tusjs/upload.mjs prints.
type tusJSResult struct {
	URL       string `json:"url"`
	Aborted   bool   `json:"aborted"`
	BytesSent int64  `json:"bytesSent"`
	Error     string `json:"error"`
	Stats     struct {
		Posts            int    `json:"posts"`
		Heads            int    `json:"heads"`
		Patches          int    `json:"patches"`
		HeadOffset       *int64 `json:"headOffset"`
		FirstPatchOffset *int64 `json:"firstPatchOffset"`
		PatchStatuses    []int  `json:"patchStatuses"`
	} `json:"stats"`
}

// requireTusJS fails unless node and the pinned tus-js-client are installed; it returns the
// path of node and of upload.mjs.
func requireTusJS(t *testing.T) (string, string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is missing: install the Debian package \"nodejs\" (run e2e/install-deps.sh as root)")
	}
	dir, err := filepath.Abs("tusjs")
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := os.ReadFile(filepath.Join(dir, "node_modules", "tus-js-client", "package.json"))
	if err != nil {
		t.Fatalf("tus-js-client is not installed in %s: run e2e/install-deps.sh (it runs `npm ci` there): %v", dir, err)
	}
	var meta struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(pkg, &meta); err != nil || meta.Version != tusJSVersion {
		t.Fatalf("tusjs/node_modules holds tus-js-client %q, want %s: rm -rf e2e/tusjs/node_modules and run e2e/install-deps.sh", meta.Version, tusJSVersion)
	}
	return node, filepath.Join(dir, "upload.mjs")
}

func runTusJS(t *testing.T, node, script string, args ...string) tusJSResult {
	t.Helper()
	out, stderr, err := run(context.Background(), 90*time.Second, nil, node, append([]string{script}, args...)...)
	var res tusJSResult
	if jerr := json.Unmarshal([]byte(strings.TrimSpace(out)), &res); jerr != nil {
		t.Fatalf("upload.mjs %s: no JSON (%v; run error %v): stdout %q stderr %q", strings.Join(args, " "), jerr, err, out, stderr)
	}
	if err != nil || res.Error != "" {
		t.Fatalf("upload.mjs %s failed: %v; result %+v; stderr %s", strings.Join(args, " "), err, res, stderr)
	}
	return res
}

func TestTusJSClientResume(t *testing.T) {
	node, script := requireTusJS(t)
	if v, _, err := run(context.Background(), 10*time.Second, nil, node, "--version"); err == nil {
		t.Logf("node %s, tus-js-client %s", strings.TrimSpace(v), tusJSVersion)
	}
	s := newResumableServer(t)
	const chunk = 1 << 20
	data := testkit.Random(t, 12<<20+12345)
	file := writeTemp(t, "video.bin", data)
	abortAt := int64(5<<20 + 777) // in the middle of the sixth PATCH

	first := runTusJS(t, node, script, "--file", file, "--endpoint", s.creationURL(),
		"--chunk-size", strconv.Itoa(chunk), "--filename", "tus résumé.bin", "--filetype", "application/octet-stream",
		"--abort-after", strconv.FormatInt(abortAt, 10))
	t.Logf("instance 1: aborted=%v after %d bytes sent, %d POST, %d PATCH, url %s", first.Aborted, first.BytesSent, first.Stats.Posts, first.Stats.Patches, first.URL)
	if !first.Aborted || first.URL == "" {
		t.Fatalf("instance 1 did not abort with an upload URL: %+v", first)
	}
	if !strings.HasPrefix(first.URL, s.base+resumablePath) {
		t.Fatalf("upload URL %q is not under %s%s", first.URL, s.base, resumablePath)
	}
	if first.Stats.Posts != 1 || first.Stats.Patches < 6 {
		t.Errorf("instance 1: %d POST and %d PATCH requests, want 1 and >= 6 (1 MiB chunks up to %d bytes)", first.Stats.Posts, first.Stats.Patches, abortAt)
	}

	// Every chunk before the aborted one was acknowledged, so the offset is at least 5 MiB.
	off, _ := tusHead(t, first.URL, 5*time.Second)
	t.Logf("offset after the abort: %d of %d (acknowledged before the abort: >= %d)", off, len(data), abortAt/chunk*chunk)
	if off < abortAt/chunk*chunk || off >= int64(len(data)) {
		t.Fatalf("offset after the abort = %d, want in [%d, %d)", off, abortAt/chunk*chunk, len(data))
	}

	second := runTusJS(t, node, script, "--file", file, "--upload-url", first.URL, "--chunk-size", strconv.Itoa(chunk))
	t.Logf("instance 2: %d POST, %d HEAD (offset %v), %d PATCH from %v, statuses %v",
		second.Stats.Posts, second.Stats.Heads, deref(second.Stats.HeadOffset), second.Stats.Patches, deref(second.Stats.FirstPatchOffset), second.Stats.PatchStatuses)
	if second.Aborted || second.URL != first.URL {
		t.Fatalf("instance 2 did not finish the same upload: %+v", second)
	}
	if second.Stats.Posts != 0 || second.Stats.Heads < 1 {
		t.Errorf("instance 2 sent %d POST and %d HEAD, want a resume: 0 POST, >= 1 HEAD", second.Stats.Posts, second.Stats.Heads)
	}
	if deref(second.Stats.HeadOffset) != off || deref(second.Stats.FirstPatchOffset) != off {
		t.Errorf("instance 2 resumed from HEAD offset %d / first PATCH offset %d, want %d", deref(second.Stats.HeadOffset), deref(second.Stats.FirstPatchOffset), off)
	}
	if second.Stats.Patches < 2 {
		t.Errorf("instance 2 sent %d PATCH requests, want several (1 MiB chunks)", second.Stats.Patches)
	}
	checkCompleted(t, s, first.URL, data)
}

func deref(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

// ---------------------------------------------------------------- kill -9

func TestCrashKill9Resume(t *testing.T) {
	s := newResumableServer(t)
	const (
		size  = 64 << 20
		chunk = 4 << 20
	)
	data := testkit.Random(t, size)
	uploadURL := s.tusCreate(t, size, "crash.bin")
	client := &http.Client{Timeout: 60 * time.Second}

	// Each round: full PATCHes, then one more PATCH of which only part (or all) of the body
	// is sent before the server is killed. The last round kills while the final chunk's
	// response (and the commit) is due.
	type plan struct {
		full    int   // complete PATCHes before the one in flight
		partial int64 // bytes of the in-flight PATCH's body sent before the kill (chunk: all)
		pause   time.Duration
	}
	plans := []plan{
		{full: 2, partial: 1<<20 + 512<<10, pause: 200 * time.Millisecond},
		{full: 4, partial: 3<<20 + 123, pause: 50 * time.Millisecond},
		{full: 1, partial: chunk, pause: 3 * time.Millisecond}, // racing the sync and the answer
		{full: 100, partial: chunk, pause: 0},                  // the final chunk: racing the commit
	}
	offset := int64(0)
	for round, p := range plans {
		if offset >= size {
			break
		}
		acked := offset
		for i := 0; i < p.full && offset+chunk < size; i++ {
			_, got, err := tusPatch(client, uploadURL, offset, bytes.NewReader(data[offset:offset+chunk]), chunk)
			if err != nil {
				t.Fatalf("round %d: %v", round+1, err)
			}
			if got != offset+chunk {
				t.Fatalf("round %d: PATCH at %d: Upload-Offset %d, want %d", round+1, offset, got, offset+chunk)
			}
			offset, acked = got, got
		}
		end := min(offset+chunk, size)
		part := min(p.partial, end-offset)
		// The in-flight PATCH announces the whole chunk but gets only part of it.
		pr, pw := io.Pipe()
		type result struct {
			status int
			off    int64
			err    error
		}
		done := make(chan result, 1)
		go func() {
			st, off, err := tusPatch(client, uploadURL, offset, pr, end-offset)
			done <- result{st, off, err}
		}()
		writeErr := make(chan error, 1)
		go func() {
			_, err := pw.Write(data[offset : offset+part])
			writeErr <- err
		}()
		select {
		case err := <-writeErr:
			if err != nil {
				t.Fatalf("round %d: writing the in-flight PATCH body: %v", round+1, err)
			}
		case r := <-done:
			t.Fatalf("round %d: the in-flight PATCH ended before its body was sent: %+v", round+1, r)
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the in-flight PATCH body was not taken within 30 s", round+1)
		}
		// The pipe's Write returned: the transport took all part bytes. What reached the
		// server is at most that.
		sent := offset + part
		time.Sleep(p.pause)
		s.kill9(t)
		pw.CloseWithError(errors.New("server killed"))
		var r result
		select {
		case r = <-done:
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: the in-flight PATCH did not end within 15 s of the kill", round+1)
		}
		if r.err == nil && r.off > acked {
			acked = r.off // the answer made it out before the kill
		}
		s.start(t)
		recovered, _ := tusHead(t, uploadURL, 10*time.Second)
		t.Logf("crash round %d: killed with a PATCH in flight at %d (%d of %d body bytes sent, answer: %v): acknowledged=%d sent=%d recovered=%d",
			round+1, offset, sent-offset, end-offset, resultString(r.status, r.off, r.err), acked, sent, recovered)
		if recovered < acked {
			t.Fatalf("round %d: recovered offset %d < acknowledged %d: acknowledged bytes lost across kill -9", round+1, recovered, acked)
		}
		if recovered > sent {
			t.Fatalf("round %d: recovered offset %d > %d bytes sent", round+1, recovered, sent)
		}
		offset = recovered
	}
	if offset < size {
		patchAll(t, uploadURL, data, offset, chunk)
	}
	checkCompleted(t, s, uploadURL, data)
}

func resultString(status int, off int64, err error) string {
	if err != nil {
		return "error: " + firstLine(err.Error())
	}
	return fmt.Sprintf("%d, Upload-Offset %d", status, off)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// ---------------------------------------------------------------- hand-off

func TestHandoffLatency(t *testing.T) {
	s := newResumableServer(t)
	const rounds = 20
	var lat []time.Duration
	for i := range rounds {
		length := int64(512<<10 + i*1000)
		stalled := int64(64<<10 + i*4099)
		data := testkit.Random(t, int(length))
		uploadURL := s.tusCreate(t, length, fmt.Sprintf("handoff-%d.bin", i))
		u, _ := url.Parse(uploadURL)

		// A PATCH that announces the whole upload, sends part of it and goes silent.
		conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("round %d: dial: %v", i, err)
		}
		fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: %s\r\nContent-Type: %s\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n",
			u.RequestURI(), s.addr, tusResumable, tusChunkType, length)
		if _, err := conn.Write(data[:stalled]); err != nil {
			t.Fatalf("round %d: writing the stalled PATCH: %v", i, err)
		}
		// Let the server take in what was sent; the measurement starts with the HEAD.
		time.Sleep(150 * time.Millisecond)

		start := time.Now()
		off, _ := tusHead(t, uploadURL, 5*time.Second)
		took := time.Since(start)
		lat = append(lat, took)
		if off != stalled {
			conn.Close()
			t.Fatalf("round %d: HEAD during a stalled PATCH that sent %d bytes: Upload-Offset %d (after %v)", i, stalled, off, took)
		}

		// The stalled request is cut off; it must end (bounded), whatever it answers.
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		status := "no answer"
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
			status = fmt.Sprintf("%d (Upload-Offset %q)", resp.StatusCode, resp.Header.Get("Upload-Offset"))
			resp.Body.Close()
		} else {
			status = "error: " + err.Error()
		}
		conn.Close()

		client := &http.Client{Timeout: 10 * time.Second}
		_, got, err := tusPatch(client, uploadURL, stalled, bytes.NewReader(data[stalled:]), length-stalled)
		if err != nil || got != length {
			t.Fatalf("round %d: PATCH from %d after the hand-off: Upload-Offset %d, %v", i, stalled, got, err)
		}
		if i == 0 || i == rounds-1 {
			checkGet(t, fmt.Sprintf("round %d", i), uploadURL, data)
		}
		t.Logf("round %2d: stalled PATCH had sent %d bytes; HEAD answered offset %d in %v; stalled PATCH got %s", i, stalled, off, took, status)
	}
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	median := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		median = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	t.Logf("handoff median=%v max=%v min=%v rounds=%d", median, sorted[len(sorted)-1], sorted[0], len(sorted))
}

// ---------------------------------------------------------------- curl -C

func TestCurlContentRangeResume(t *testing.T) {
	requireFile(t, "/usr/bin/curl", "curl")
	s := newResumableServer(t)
	const name = "curl-resume/video.bin"
	const ctype = "application/octet-stream"
	data := testkit.Random(t, 16<<20+321)
	file := writeTemp(t, "video.bin", data)

	out, _, err := run(context.Background(), 20*time.Second, nil, serverBinary(t), "sign", "--protocol", "v2",
		"--path", name, "--size", strconv.Itoa(len(data)), "--type", ctype, "--secret", s.secret, "--base", s.base)
	if err != nil {
		t.Fatalf("fileserver sign: %v", err)
	}
	signed := strings.TrimSpace(out)
	getURL, _, _ := strings.Cut(signed, "?")
	t.Logf("signed URL: %s?v2=...", getURL)

	// 1. A slow curl -T, killed after part of the body.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/curl", "-sS", "-T", file, "--limit-rate", "2M",
		"-H", "Content-Type: "+ctype, "-o", os.DevNull, signed)
	var curlErr bytes.Buffer
	cmd.Stderr = &curlErr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start curl: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("curl -T ended before it was interrupted: %v; stderr %s", err, curlErr.String())
	case <-time.After(2300 * time.Millisecond): // about 4.6 MiB at 2 MiB/s
	}
	cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("curl did not exit within 10 s of SIGKILL")
	}

	// 2. HEAD on the signed URL tells where to continue. The server learns of the dropped
	// connection a moment after the kill: poll, bounded.
	var offset int64 = -1
	var lastStatus string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodHead, signed, nil)
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("HEAD on the signed URL: %v", err)
		}
		resp.Body.Close()
		lastStatus = fmt.Sprintf("%d, Upload-Offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
		if v := resp.Header.Get("Upload-Offset"); resp.StatusCode == http.StatusOK && v != "" {
			offset, _ = strconv.ParseInt(v, 10, 64)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if offset <= 0 || offset >= int64(len(data)) {
		t.Fatalf("HEAD on the signed URL after the interrupted curl -T: %s; want 200 with 0 < Upload-Offset < %d", lastStatus, len(data))
	}
	t.Logf("interrupted curl -T left %d of %d bytes (HEAD: %s)", offset, len(data), lastStatus)

	// 3. curl -C OFFSET -T continues it with a Content-Range PUT.
	out, stderr, err := run(context.Background(), 60*time.Second, nil, "/usr/bin/curl", "-sS", "-v",
		"-C", strconv.FormatInt(offset, 10), "-T", file, "-H", "Content-Type: "+ctype,
		"-o", os.DevNull, "-w", "%{http_code}", signed)
	if err != nil {
		t.Fatalf("curl -C %d -T: %v", offset, err)
	}
	wantRange := fmt.Sprintf("Content-Range: bytes %d-%d/%d", offset, len(data)-1, len(data))
	if !strings.Contains(stderr, wantRange) {
		t.Errorf("curl -C did not send %q; its trace:\n%s", wantRange, redactCurl(stderr))
	}
	if strings.TrimSpace(out) != "201" {
		t.Fatalf("curl -C %d -T: status %s, want 201; trace:\n%s", offset, out, redactCurl(stderr))
	}
	checkGet(t, "after curl -C", getURL, data)
}

// redactCurl drops the query (the MAC) from curl's trace.
func redactCurl(trace string) string {
	var b strings.Builder
	for _, line := range strings.Split(trace, "\n") {
		if i := strings.Index(line, "?v2="); i >= 0 {
			line = line[:i] + "?v2=..."
		}
		if strings.HasPrefix(line, ">") || strings.HasPrefix(line, "<") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
