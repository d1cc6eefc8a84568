package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"fileserver/internal/app"
	"fileserver/internal/chunking"
	"fileserver/internal/config"
	"fileserver/internal/content"
	"fileserver/internal/handlers"
	"fileserver/internal/hmacauth"
	"fileserver/internal/ops"
	"fileserver/internal/scan"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
	"fileserver/internal/testkit"
	"fileserver/internal/thumb"
)

const testSecret = "test-secret-0123456789abcdef0123456789"

// testServer is a real fileserver on a real loopback listener, storing into a temporary
// data directory that sits alone inside its own parent (so traversal tests can see escapes).
type testServer struct {
	*httptest.Server
	h       *handlers.Server
	cfg     config.Config
	dataDir string
	parent  string
}

// newTestServer builds the server as cmd/fileserver wires it; mods adjust the config.
func newTestServer(t testing.TB, mods ...func(*config.Config)) *testServer {
	t.Helper()
	return startTestServer(t, serverSetup{}, mods...)
}

// serverSetup is what a test may change about a test server beyond its configuration.
type serverSetup struct {
	// tls serves HTTPS (with httptest's certificate).
	tls bool
	// log receives the server's log; nil discards it.
	log io.Writer
	// metrics is served at metrics.path; nil serves none.
	metrics http.Handler
	// partials, when set, wraps the store's partial data for resumable uploads (to inject
	// delays between their steps).
	partials func(storage.Partials) storage.Partials
	// ops is the operator's side the server tells and asks (takedowns); nil: none.
	ops *ops.Ops
	// checkTypes judges committed files by their first bytes (upload.check_types).
	checkTypes bool
	// scanner scans uploads for malware; nil: none.
	scanner *scan.Scanner
	// thumbs serves thumbnails of 64 and 128 pixels.
	thumbs bool
}

// startTestServer is newTestServer with a setup.
func startTestServer(t testing.TB, setup serverSetup, mods ...func(*config.Config)) *testServer {
	t.Helper()
	parent := t.TempDir()
	dataDir := filepath.Join(parent, "data")
	cfg := config.Default()
	cfg.Storage.Path = dataDir
	cfg.Storage.Fsync = false
	// Hand-off tests watch a partial file's size for the server's progress; a preallocated
	// file is full length from the start (TestPreallocatedResumable covers that path).
	cfg.Storage.Preallocate = false
	cfg.Auth.Secret = testSecret
	for _, m := range mods {
		m(&cfg)
	}
	dataDir = cfg.Storage.Path // a test may move storage (onto a small tmpfs, say)
	store, err := storage.OpenLocal(dataDir, storage.LocalOptions{Fsync: cfg.Storage.Fsync, Checksum: true,
		Preallocate: cfg.Storage.Preallocate, MinFree: int64(cfg.Storage.MinFree), Dedup: cfg.Storage.Dedup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if setup.ops != nil && setup.ops.Remove == nil {
		setup.ops.Remove = store.Delete
	}
	if setup.scanner != nil {
		if setup.ops == nil {
			setup.ops = &ops.Ops{Remove: store.Delete}
		}
		setup.ops.Scanner = setup.scanner
	}
	if setup.checkTypes {
		if setup.ops == nil {
			setup.ops = &ops.Ops{Remove: store.Delete}
		}
		setup.ops.Checks = append(setup.ops.Checks, func(ctx context.Context, c *ops.Commit) error {
			return content.Stored(ctx, store, c.Name, c.ContentType)
		})
	}
	quota := &storage.Quota{Book: store, Limit: int64(cfg.Limits.DailyQuota), HoldFor: cfg.Resumable.SessionTTL.D()}
	engine := streaming.New(app.EngineOptions(cfg.Streaming))
	var uploads *chunking.Uploads
	if cfg.Resumable.Enabled {
		sessions, err := chunking.NewDirStore(store.Root(), cfg.Storage.Fsync)
		if err != nil {
			t.Fatal(err)
		}
		backend := store.Backend()
		if setup.partials != nil {
			backend.Partials = setup.partials(store)
		}
		uploads = chunking.New(sessions, backend, chunking.Options{
			Quota:              quota,
			CheckpointBytes:    int64(cfg.Resumable.CheckpointBytes),
			CheckpointInterval: cfg.Resumable.CheckpointInterval.D(),
			TTL:                cfg.Resumable.SessionTTL.D(), MaxSize: int64(cfg.Upload.MaxSize),
			SkipDigest: !cfg.Storage.Checksum,
			StaleAfter: cfg.Resumable.StaleAfter.D(),
			Copier:     engine,
			Admit:      setup.ops.Check,
			Scan:       setup.ops.ScanHook(),
			Committed: func(ctx context.Context, s *chunking.Session, m storage.Meta) error {
				return setup.ops.Committed(ctx, ops.Commit{ID: s.ID, Name: m.Name, Size: m.Size, ContentType: m.ContentType})
			},
		})
	}
	log := zerolog.Nop()
	if setup.log != nil {
		log = zerolog.New(setup.log)
	}
	var thumbs *thumb.Maker
	if setup.thumbs {
		thumbs = thumb.New(thumb.Options{Sizes: []int{64, 128}, MaxPixels: 4_000_000, Timeout: 10 * time.Second,
			Cache: store.Root(), Pool: engine.Pool()})
	}
	srv := httptest.NewUnstartedServer(nil)
	h := handlers.New(handlers.Options{
		Thumbs:  thumbs,
		Uploads: uploads,
		Config:  app.HandlerConfig(cfg),
		Storage: store.Backend(),
		Engine:  engine,
		Verifier: hmacauth.NewVerifier(hmacauth.Options{
			Secret:           cfg.Auth.Secret,
			PreviousSecrets:  cfg.Auth.PreviousSecrets,
			ClockSkew:        cfg.Auth.ClockSkew.D(),
			MaxTokenLifetime: cfg.Auth.MaxTokenLifetime.D(),
			TypeByName:       handlers.TypeByName,
		}),
		Log:     log,
		Listen:  srv.Listener.Addr().String(),
		Metrics: setup.metrics,
		Quota:   quota,
		Ops:     setup.ops,
	})
	srv.Config.Handler = h
	if setup.tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, h: h, cfg: cfg, dataDir: dataDir, parent: parent}
}

// addr is the listener's host:port, for raw connections.
func (ts *testServer) addr() string { return ts.Listener.Addr().String() }

// fileURL is the download URL of a stored name.
func (ts *testServer) fileURL(name string) string {
	return ts.URL + "/upload/" + handlers.EscapeName(name)
}

func (ts *testServer) v1URL(name string, size int) string {
	return ts.fileURL(name) + "?v=" + hmacauth.SignV1(testSecret, name, int64(size))
}

func (ts *testServer) v2URL(name string, size int, ctype string) string {
	return ts.fileURL(name) + "?v2=" + hmacauth.SignV2(testSecret, name, int64(size), ctype)
}

// v3Query is the query of a v3 URL letting method on the decoded URL path urlPath.
func v3Query(method, urlPath string) string {
	exp := time.Now().Add(5 * time.Minute).Unix()
	return "v3=" + hmacauth.SignV3(testSecret, method, urlPath, exp) + "&expires=" + strconv.FormatInt(exp, 10)
}

func (ts *testServer) v3URL(method, name string) string {
	return ts.fileURL(name) + "?" + v3Query(method, "/upload/"+name)
}

// bearer is an Authorization header value with a token for claims.
func bearer(c hmacauth.Claims) string { return "Bearer " + hmacauth.SignToken(testSecret, c) }

// tokenClaims are valid claims for slot/filename of size bytes.
func tokenClaims(slot, filename string, size int) hmacauth.Claims {
	now := time.Now().Unix()
	return hmacauth.Claims{
		Sub: "user@example.org", Iat: now, Exp: now + 300, Slot: slot,
		Filename: filename, Filesize: int64(size), Filetype: "application/octet-stream",
	}
}

// client never follows redirects: a 3xx must be seen, not hidden.
var client = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       20 * time.Second,
}

// uploaded is a new server holding body under name, stored with a v1 PUT.
func uploaded(t *testing.T, name string, body []byte, hdr ...string) *testServer {
	t.Helper()
	ts := newTestServer(t)
	ts.upload(t, name, body, hdr...)
	return ts
}

// upload stores body under name with a v1 PUT.
func (ts *testServer) upload(t *testing.T, name string, body []byte, hdr ...string) {
	t.Helper()
	resp, rb := put(t, ts.v1URL(name, len(body)), body, hdr...)
	wantStatus(t, resp, rb, http.StatusCreated)
}

// do sends req and returns the response with its body read and closed.
func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp, body
}

// request builds a request; body may be nil, and hdr holds pairs of header names and values.
func request(t *testing.T, method, u string, body io.Reader, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// put sends body (with its Content-Length) to u.
func put(t *testing.T, u string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return do(t, request(t, http.MethodPut, u, bytes.NewReader(body), hdr...))
}

func get(t *testing.T, u string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return do(t, request(t, http.MethodGet, u, nil, hdr...))
}

// opaqueRequest sends target exactly as given in the request line (no client-side cleaning
// or re-escaping). target must not start with "//".
func (ts *testServer) opaqueRequest(t *testing.T, method, target string, body io.Reader, hdr ...string) *http.Request {
	t.Helper()
	req := request(t, method, ts.URL+"/", body, hdr...)
	req.URL.Opaque = target
	return req
}

// wantStatus fails the test when resp's status is not want.
func wantStatus(t *testing.T, resp *http.Response, body []byte, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d (body %q)", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, body)
	}
}

// assertStored checks that name downloads with exactly want.
func (ts *testServer) assertStored(t *testing.T, name string, want []byte) {
	t.Helper()
	resp, body := get(t, ts.fileURL(name))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200", name, resp.StatusCode)
	}
	if !bytes.Equal(body, want) {
		t.Fatalf("GET %s: got %d bytes %q, want %d bytes %q", name, len(body), trunc(body), len(want), trunc(want))
	}
}

// assertNotStored checks that name is not served and that the data directory holds no file
// for it.
func (ts *testServer) assertNotStored(t *testing.T, name string) {
	t.Helper()
	resp, body := get(t, ts.fileURL(name))
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET %s: status %d, want 404 (body %q)", name, resp.StatusCode, trunc(body))
	}
	if _, err := os.Lstat(filepath.Join(ts.dataDir, "files", filepath.FromSlash(name))); err == nil {
		t.Fatalf("%s exists in the data directory", name)
	}
}

// tmpEntries lists what is left in the store's temporary directory.
func (ts *testServer) tmpEntries(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(ts.dataDir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// waitNoTmp waits (bounded) until the temporary directory is empty: a handler may still be
// cleaning up just after its connection ended.
func (ts *testServer) waitNoTmp(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := ts.tmpEntries(t)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("temporary files left behind: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dirTree lists every path under dir, relative to it, sorted.
func dirTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// rawConn is a client connection that writes bytes exactly as given.
type rawConn struct {
	t  *testing.T
	c  *net.TCPConn
	br *bufio.Reader
}

func (ts *testServer) dial(t *testing.T) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// No test may hang on a server that never answers.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c.(*net.TCPConn), br: bufio.NewReader(c)}
}

func (rc *rawConn) write(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("raw write: %v", err)
	}
}

// readResponse reads one response to a request of method and its whole body.
func (rc *rawConn) readResponse(method string) (*http.Response, []byte) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("raw read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("raw read body: %v", err)
	}
	resp.Body.Close()
	return resp, body
}

// rawRequest is the head of a request with target as its request line's target.
func rawRequest(method, target string, hdr ...string) string {
	var b bytes.Buffer
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: test\r\n")
	for i := 0; i+1 < len(hdr); i += 2 {
		b.WriteString(hdr[i] + ": " + hdr[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// pathAndQuery strips scheme and host from a URL made by the helpers above.
func pathAndQuery(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.RequestURI()
}

// onlyReader hides a reader's type, so net/http cannot learn the length and sends chunked.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// pattern is n deterministic bytes that differ per seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// lockedBuffer is a buffer a writer goroutine and the test may share.
type lockedBuffer = testkit.SyncBuffer

// racing sends n requests at once, request(i) each, and returns how many were answered
// created; every other answer must be refused, or the test fails.
func racing(t *testing.T, n, created, refused int, request func(i int) *http.Response) int {
	t.Helper()
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = request(i).StatusCode
		}()
	}
	wg.Wait()
	ok := 0
	for _, st := range statuses {
		switch st {
		case created:
			ok++
		case refused:
		default:
			t.Fatalf("status %d among %v, want %d or %d", st, statuses, created, refused)
		}
	}
	return ok
}

// mountTmpfs mounts a tmpfs of size (e.g. "24m") at a new directory, which needs root.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}
