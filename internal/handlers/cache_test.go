package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"fileserver/internal/app"
	"fileserver/internal/config"
	"fileserver/internal/handlers"
	"fileserver/internal/hmacauth"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

// cachePair is a server with the download caches on and a twin with them off, serving the
// same data directory, so that a cached response can be compared with an uncached one of the
// same file.
type cachePair struct {
	cached, uncached *httptest.Server
	store            *storage.Local // the cached server's store
	engine           *streaming.Engine
	dataDir          string
}

func newCachePair(t *testing.T, mods ...func(*config.Config)) *cachePair {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "data")
	p := &cachePair{dataDir: dataDir}
	build := func(on bool) (*httptest.Server, *storage.Local, *streaming.Engine) {
		cfg := config.Default()
		cfg.Storage.Path = dataDir
		cfg.Storage.Fsync = false
		cfg.Auth.Secret = testSecret
		cfg.Resumable.Enabled = false
		for _, m := range mods {
			m(&cfg)
		}
		if !on {
			cfg.Download.SmallFileCache, cfg.Download.OpenFiles = 0, 0
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		store, err := storage.OpenLocal(dataDir, storage.LocalOptions{Checksum: cfg.Storage.Checksum})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		engine := streaming.New(app.EngineOptions(cfg.Streaming))
		h := handlers.New(handlers.Options{
			Config: app.HandlerConfig(cfg), Storage: store.Backend(), Engine: engine, Log: zerolog.Nop(),
			Verifier: hmacauth.NewVerifier(hmacauth.Options{Secret: cfg.Auth.Secret, TypeByName: handlers.TypeByName}),
		})
		srv := httptest.NewUnstartedServer(h)
		srv.Config.ConnContext = streaming.ConnContext
		srv.Listener = streaming.Listener(srv.Listener)
		srv.Start()
		t.Cleanup(srv.Close)
		return srv, store, engine
	}
	p.cached, p.store, p.engine = build(true)
	p.uncached, _, _ = build(false)
	return p
}

func (p *cachePair) url(srv *httptest.Server, name string) string {
	return srv.URL + "/upload/" + handlers.EscapeName(name)
}

func (p *cachePair) upload(t *testing.T, name string, body []byte, hdr ...string) {
	t.Helper()
	u := p.url(p.cached, name) + "?v=" + hmacauth.SignV1(testSecret, name, int64(len(body)))
	resp, rb := put(t, u, body, hdr...)
	wantStatus(t, resp, rb, http.StatusCreated)
}

// sameResponses fails unless two responses agree on status, headers (but Date and
// X-Request-Id, which differ per response) and body.
func sameResponses(t *testing.T, what string, a *http.Response, ab []byte, b *http.Response, bb []byte) {
	t.Helper()
	if a.StatusCode != b.StatusCode {
		t.Fatalf("%s: status %d cached, %d uncached", what, a.StatusCode, b.StatusCode)
	}
	keys := func(h http.Header) []string {
		var ks []string
		for k := range h {
			if k != "Date" && k != "X-Request-Id" {
				ks = append(ks, k)
			}
		}
		slices.Sort(ks)
		return ks
	}
	if ka, kb := keys(a.Header), keys(b.Header); !slices.Equal(ka, kb) {
		t.Fatalf("%s: header keys differ:\ncached   %v\nuncached %v", what, ka, kb)
	}
	for _, k := range keys(a.Header) {
		if k == "Content-Type" && a.Header.Get("Content-Type")[:10] == "multipart/" {
			continue // the boundary is random
		}
		if !slices.Equal(a.Header[k], b.Header[k]) {
			t.Errorf("%s: %s is %q cached, %q uncached", what, k, a.Header[k], b.Header[k])
		}
	}
	if a.Header.Get("Content-Type") != "" && a.Header.Get("Content-Type")[:10] == "multipart/" {
		if len(ab) != len(bb) {
			t.Errorf("%s: multipart bodies of %d and %d bytes", what, len(ab), len(bb))
		}
		return
	}
	if !bytes.Equal(ab, bb) {
		t.Errorf("%s: bodies differ: %d bytes cached, %d uncached", what, len(ab), len(bb))
	}
}

// Cached responses are the uncached ones: same status, headers and body, for GET, HEAD,
// conditional requests the cache answers, and the requests it leaves to ServeContent.
func TestCachedResponsesEqualUncached(t *testing.T) {
	p := newCachePair(t)
	files := map[string][]byte{
		"a/small.bin":      pattern(4096, 1),
		"a/picture.jpg":    pattern(1000, 2),
		"a/notes.txt":      []byte("hello\n"),
		"a/émoji 😀.pdf":    pattern(10_000, 3),
		"a/empty.bin":      {},
		"b/large.bin":      pattern(200_000, 4), // above small_file_max: kept as an open handle
		"b/exactly64k.bin": pattern(64<<10, 5),
	}
	for name, body := range files {
		p.upload(t, name, body)
	}
	for name, body := range files {
		warm, _ := get(t, p.url(p.cached, name))
		etag := warm.Header.Get("Etag")
		lastMod := warm.Header.Get("Last-Modified")
		cases := []struct {
			method string
			hdr    []string
		}{
			{http.MethodGet, nil},
			{http.MethodHead, nil},
			{http.MethodGet, []string{"If-None-Match", etag}},
			{http.MethodHead, []string{"If-None-Match", etag}},
			{http.MethodGet, []string{"If-None-Match", `W/` + etag + `, "other"`}},
			{http.MethodGet, []string{"If-None-Match", `"other"`}},
			{http.MethodGet, []string{"If-None-Match", `*`}},
			{http.MethodGet, []string{"If-None-Match", `"a b", ` + etag}},
			{http.MethodGet, []string{"If-None-Match", `garbage`}},
			{http.MethodGet, []string{"If-Modified-Since", lastMod}},
			{http.MethodGet, []string{"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}},
			{http.MethodGet, []string{"If-Modified-Since", "not a date"}},
			{http.MethodGet, []string{"If-None-Match", `"other"`, "If-Modified-Since", lastMod}},
			{http.MethodGet, []string{"If-Match", `"other"`}},
			{http.MethodGet, []string{"If-Unmodified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}},
			{http.MethodGet, []string{"Range", "bytes=0-9"}},
			{http.MethodGet, []string{"Range", "bytes=-5"}},
			{http.MethodGet, []string{"Range", "bytes=0-1,5-6"}},
			{http.MethodGet, []string{"Range", "bytes=999999-"}},
			{http.MethodGet, []string{"Range", "bytes=0-9", "If-Range", etag}},
			{http.MethodGet, []string{"Range", "bytes=0-9", "If-Range", `"other"`}},
			{http.MethodGet, []string{"Origin", "https://chat.example"}},
		}
		for _, c := range cases {
			what := fmt.Sprintf("%s %s %q", c.method, name, c.hdr)
			// Twice from the cached server: the first may fill the cache, the second is a hit.
			for range 2 {
				a, ab := do(t, request(t, c.method, p.url(p.cached, name), nil, c.hdr...))
				b, bb := do(t, request(t, c.method, p.url(p.uncached, name), nil, c.hdr...))
				sameResponses(t, what, a, ab, b, bb)
				if c.hdr == nil && c.method == http.MethodGet && !bytes.Equal(ab, body) {
					t.Fatalf("%s: wrong body", what)
				}
				if a.Header.Get("Access-Control-Allow-Origin") == "" || a.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Fatalf("%s: CORS or security headers missing: %v", what, a.Header)
				}
			}
		}
	}
}

// A file removed through the store (Delete, the reaper) is gone from the cache at once.
func TestCacheForgetsDeletedFile(t *testing.T) {
	p := newCachePair(t)
	for _, name := range []string{"d/small.bin", "d/large.bin"} {
		size := 100
		if name == "d/large.bin" {
			size = 200_000
		}
		p.upload(t, name, pattern(size, 9))
		for range 3 {
			resp, body := get(t, p.url(p.cached, name))
			wantStatus(t, resp, body, http.StatusOK)
			resp, body = get(t, p.url(p.cached, name), "Range", "bytes=0-9")
			wantStatus(t, resp, body, http.StatusPartialContent)
		}
		if err := p.store.Delete(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		for _, rng := range []string{"", "bytes=0-9"} {
			resp, body := get(t, p.url(p.cached, name), "Range", rng)
			wantStatus(t, resp, body, http.StatusNotFound)
		}
	}
}

// A file another process removed (fileserver gc) is served from the cache at most until the
// next check, one revalidation interval later; never after.
func TestCacheNoticesFileRemovedBehindItsBack(t *testing.T) {
	const interval = 50 * time.Millisecond
	p := newCachePair(t, func(c *config.Config) { c.Download.Revalidate = config.Duration(interval) })
	names := []string{"gc/small.bin", "gc/large.bin"}
	p.upload(t, names[0], pattern(100, 1))
	p.upload(t, names[1], pattern(200_000, 2))
	for _, name := range names {
		for range 3 {
			resp, body := get(t, p.url(p.cached, name), "Range", "bytes=0-9")
			wantStatus(t, resp, body, http.StatusPartialContent)
		}
		if err := os.Remove(filepath.Join(p.dataDir, "files", filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	removed := time.Now()
	for _, name := range names {
		for {
			asked := time.Since(removed)
			resp, body := get(t, p.url(p.cached, name))
			if resp.StatusCode == http.StatusNotFound {
				break
			}
			wantStatus(t, resp, body, http.StatusOK)
			if asked > interval {
				t.Fatalf("%s served to a request sent %v after its removal", name, asked)
			}
			time.Sleep(5 * time.Millisecond)
		}
		resp, body := get(t, p.url(p.cached, name), "Range", "bytes=0-9")
		wantStatus(t, resp, body, http.StatusNotFound)
	}
	// A new file under the same name is served, not the old one.
	p.upload(t, names[0], pattern(100, 7))
	time.Sleep(interval)
	resp, body := get(t, p.url(p.cached, names[0]))
	wantStatus(t, resp, body, http.StatusOK)
	if !bytes.Equal(body, pattern(100, 7)) {
		t.Fatal("old content served under a new file's name")
	}
}

// Without checksums (storage.checksum = false) files have no digest, and the caches keep them
// all the same: it is the metadata derived for want of a sidecar that they must not keep (a
// download between a commit's link and its sidecar would pin a response without the file's
// type). Observed by removing the file behind the caches' back: what they keep is still
// served until the next check, what they do not keep is 404 at once.
func TestCacheKeepsFilesWithoutDigest(t *testing.T) {
	p := newCachePair(t, func(c *config.Config) {
		c.Storage.Checksum = false
		c.Download.Revalidate = config.Duration(time.Minute)
	})
	kept, derived := "nd/kept.bin", "nd/derived.bin"
	for i, name := range []string{kept, derived} {
		p.upload(t, name, pattern(4096, byte(i)), "Content-Type", "application/x-test")
	}
	sidecars, err := filepath.Glob(filepath.Join(p.dataDir, "meta", "*", "*.json"))
	if err != nil || len(sidecars) != 2 {
		t.Fatalf("sidecars %v, %v; want 2", sidecars, err)
	}
	for _, sc := range sidecars {
		data, err := os.ReadFile(sc)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(derived)) {
			os.Remove(sc) // as if the commit had not written it yet
		}
	}
	for _, name := range []string{kept, derived} {
		for range 3 {
			for _, rng := range []string{"", "bytes=0-9"} {
				resp, body := get(t, p.url(p.cached, name), "Range", rng)
				wantStatus(t, resp, body, map[string]int{"": http.StatusOK, "bytes=0-9": http.StatusPartialContent}[rng])
			}
		}
		if err := os.Remove(filepath.Join(p.dataDir, "files", filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := get(t, p.url(p.cached, kept))
	wantStatus(t, resp, body, http.StatusOK)
	if !bytes.Equal(body, pattern(4096, 0)) || resp.Header.Get("Content-Type") != "application/x-test" {
		t.Fatalf("kept file served as %q, %d bytes", resp.Header.Get("Content-Type"), len(body))
	}
	for _, rng := range []string{"", "bytes=0-9"} {
		if resp, _ = get(t, p.url(p.cached, derived), "Range", rng); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("file with derived metadata, removed, still served (Range %q): status %d", rng, resp.StatusCode)
		}
	}
}

// The small-file cache never holds more than its bound, and keeps serving correctly when it
// has to evict.
func TestCacheRespectsByteBound(t *testing.T) {
	p := newCachePair(t, func(c *config.Config) {
		c.Download.SmallFileCache = 64 * config.KiB
		c.Download.SmallFileMax = 16 * config.KiB
	})
	for i := range 20 {
		name := fmt.Sprintf("bound/%d.bin", i)
		body := pattern(10_000, byte(i))
		p.upload(t, name, body)
		for range 2 {
			resp, got := get(t, p.url(p.cached, name))
			wantStatus(t, resp, got, http.StatusOK)
			if !bytes.Equal(got, body) {
				t.Fatalf("%s: wrong body", name)
			}
		}
	}
	if used := handlers.CachedBytes(p.cached.Config.Handler); used > 64<<10 || used == 0 {
		t.Fatalf("cache holds %d bytes, bound 64 KiB", used)
	}
}

// Every cached response is counted by the engine like the uncached ones.
func TestCachedDownloadsCounted(t *testing.T) {
	p := newCachePair(t)
	p.upload(t, "c/x.bin", pattern(4096, 1))
	for range 5 {
		get(t, p.url(p.cached, "c/x.bin"))
	}
	// The server counts a transfer once its write returns, which may be just after the
	// client has read the response: wait (bounded) for the count to settle.
	var n, bytes int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		n, bytes = 0, 0
		for k, v := range p.engine.Stats().Transfers() {
			if k.Protocol == "get" && k.Direction == streaming.Download && k.Result == "ok" {
				n, bytes = n+v.Count, bytes+v.Bytes
			}
		}
		if n >= 5 {
			break
		}
	}
	if n != 5 || bytes != 5*4096 {
		t.Fatalf("engine counted %d downloads, %d bytes; want 5, %d", n, bytes, 5*4096)
	}
}

// Header and body of a cached small file leave in one write on a Listener connection.
func TestCachedResponseOneWrite(t *testing.T) {
	p := newCachePair(t)
	p.upload(t, "w/x.bin", pattern(4096, 1))
	get(t, p.url(p.cached, "w/x.bin"))
	c := dialRaw(t, p.cached)
	c.write(rawRequest(http.MethodGet, "/upload/w/x.bin"))
	// One write arrives as one segment on loopback: a single read returns all of it.
	buf := make([]byte, 64<<10)
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	time.Sleep(50 * time.Millisecond)
	n, err := c.c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(buf[:n], pattern(4096, 1)) {
		t.Fatalf("first read has %d bytes, not the whole response", n)
	}
}

func dialRaw(t *testing.T, srv *httptest.Server) *rawConn {
	ts := &testServer{Server: srv}
	return ts.dial(t)
}

func BenchmarkDownloadSmall(b *testing.B) {
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			p := newBenchServer(b, cached)
			u := p.URL + "/upload/bench/small.bin"
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr}
			b.ReportAllocs()
			b.SetBytes(4096)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := cl.Get(u)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatal(resp.Status)
					}
				}
			})
		})
	}
}

// BenchmarkDownloadSmallHandler is the handler alone (middleware included), without sockets.
func BenchmarkDownloadSmallHandler(b *testing.B) {
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			h := newBenchServer(b, cached).Config.Handler
			req := httptest.NewRequest(http.MethodGet, "/upload/bench/small.bin", nil)
			b.ReportAllocs()
			b.SetBytes(4096)
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK || w.Body.Len() != 4096 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// newBenchServer is a server holding bench/small.bin (4 KiB), with the caches on or off.
func newBenchServer(b *testing.B, cached bool) *httptest.Server {
	srv := httptest.NewUnstartedServer(newBenchHandler(b, cached, zerolog.Nop()))
	srv.Config.ConnContext = streaming.ConnContext
	srv.Listener = streaming.Listener(srv.Listener)
	srv.Start()
	b.Cleanup(srv.Close)
	return srv
}

// newBenchHandler is the handler (not a listening server) of newBenchServer, logging to log.
func newBenchHandler(b *testing.B, cached bool, log zerolog.Logger) http.Handler {
	dataDir := filepath.Join(b.TempDir(), "data")
	cfg := config.Default()
	cfg.Storage.Path = dataDir
	cfg.Auth.Secret = testSecret
	cfg.Resumable.Enabled = false
	if !cached {
		cfg.Download.SmallFileCache, cfg.Download.OpenFiles = 0, 0
	}
	store, err := storage.OpenLocal(dataDir, storage.LocalOptions{Checksum: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	w, err := store.Create(context.Background(), "bench/small.bin")
	if err != nil {
		b.Fatal(err)
	}
	w.Write(pattern(4096, 1))
	if _, err := w.Commit(context.Background(), storage.Meta{ContentType: "application/octet-stream"}); err != nil {
		b.Fatal(err)
	}
	return handlers.New(handlers.Options{
		Config: app.HandlerConfig(cfg), Storage: store.Backend(), Engine: streaming.New(app.EngineOptions(cfg.Streaming)), Log: log,
		Verifier: hmacauth.NewVerifier(hmacauth.Options{Secret: cfg.Auth.Secret}),
	})
}

// Close closes the handles the cache keeps; downloads afterwards open the file again.
func TestCloseReleasesKeptHandles(t *testing.T) {
	p := newCachePair(t)
	body := pattern(200_000, 9) // above small_file_max: kept as an open handle
	p.upload(t, "c/large.bin", body)
	if resp, got := get(t, p.url(p.cached, "c/large.bin")); resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	h := p.cached.Config.Handler
	// The handle goes back to the cache when the handler returns, which may be just after
	// the client has read the last byte.
	for deadline := time.Now().Add(2 * time.Second); handlers.OpenHandles(h) != 1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := handlers.OpenHandles(h); n != 1 {
		t.Fatalf("%d handles kept after a download, want 1", n)
	}
	h.(*handlers.Server).Close()
	if n := handlers.OpenHandles(h); n != 0 {
		t.Fatalf("%d handles kept after Close", n)
	}
	if resp, got := get(t, p.url(p.cached, "c/large.bin")); resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("GET after Close: %d", resp.StatusCode)
	}
}
