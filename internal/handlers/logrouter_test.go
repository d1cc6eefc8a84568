package handlers_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"fileserver/internal/app"
	"fileserver/internal/config"
	"fileserver/internal/handlers"
	"fileserver/internal/hmacauth"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

// Every request of the real router, cached downloads included, gives one event with the
// fields an operator relies on (request id, remote, method, path, status, bytes, duration,
// the engine's buffer size) and one count under its route, method and status class.
func TestRequestLogFields(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cfg.Storage.Path = dataDir
	cfg.Storage.Fsync = false
	cfg.Auth.Secret = "log-test-secret-0123456789abcdef"
	cfg.Resumable.Enabled = false
	store, err := storage.OpenLocal(dataDir, storage.LocalOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logs := &handlers.LogBuffer{}
	h := handlers.New(handlers.Options{
		Config: app.HandlerConfig(cfg), Storage: store.Backend(), Engine: streaming.New(app.EngineOptions(cfg.Streaming)),
		Verifier: hmacauth.NewVerifier(hmacauth.Options{Secret: cfg.Auth.Secret}),
		Log:      zerolog.New(logs),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	body := strings.Repeat("x", 4096)
	sig := hmacauth.SignV1(cfg.Auth.Secret, "a/b.bin", int64(len(body)))
	type call struct {
		method, path string
		body         string
		hdr          []string
		status       int
		protocol     string
		bytesIn      int
		bytesOut     int
	}
	calls := []call{
		{http.MethodPut, "/upload/a/b.bin?v=" + sig, body, nil, http.StatusCreated, "v1", len(body), -1},
		{http.MethodGet, "/upload/a/b.bin", "", nil, http.StatusOK, "get", 0, len(body)},
		{http.MethodGet, "/upload/a/b.bin", "", []string{"X-Request-Id", "proxy-7"}, http.StatusOK, "get", 0, len(body)},
		{http.MethodHead, "/upload/a/b.bin", "", nil, http.StatusOK, "get", 0, 0},
		{http.MethodGet, "/upload/a/b.bin", "", []string{"If-None-Match", "*"}, http.StatusNotModified, "get", 0, 0},
		{http.MethodGet, "/upload/missing", "", nil, http.StatusNotFound, "get", 0, -1},
		{http.MethodOptions, "/upload/a/b.bin", "", []string{"Origin", "https://a.example", "Access-Control-Request-Method", "PUT"}, http.StatusNoContent, "", 0, 0},
		{"PROPFIND", "/upload/a/b.bin", "", nil, http.StatusMethodNotAllowed, "", 0, -1},
	}
	for _, c := range calls {
		req, _ := http.NewRequestWithContext(context.Background(), c.method, srv.URL+c.path, strings.NewReader(c.body))
		if c.body == "" {
			req.Body = nil
		}
		for i := 0; i+1 < len(c.hdr); i += 2 {
			req.Header.Set(c.hdr[i], c.hdr[i+1])
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
	}
	evs := logs.Events(t, len(calls))
	for i, ev := range evs {
		c := calls[i]
		keys := []string{"level", "request_id", "remote", "method", "path", "status", "bytes_in", "bytes_out", "duration_ms", "message"}
		if c.protocol != "" {
			keys = append(keys, "protocol")
		}
		if c.status >= 400 {
			keys = append(keys, "error")
		}
		for _, k := range keys {
			if _, ok := ev[k]; !ok {
				t.Errorf("event %d (%s %s) has no %q: %v", i, c.method, c.path, k, ev)
			}
		}
		wantPath, _, _ := strings.Cut(c.path, "?")
		if ev["method"] != c.method || ev["path"] != wantPath || ev["remote"] != "127.0.0.1" ||
			ev["status"] != float64(c.status) || ev["bytes_in"] != float64(c.bytesIn) ||
			(c.protocol != "" && ev["protocol"] != c.protocol) || (c.bytesOut >= 0 && ev["bytes_out"] != float64(c.bytesOut)) {
			t.Errorf("event %d: %v, want %+v", i, ev, c)
		}
		if strings.Contains(handlers.JSONText(ev), sig) {
			t.Errorf("event %d logs the signature: %v", i, ev)
		}
	}
	if evs[2]["request_id"] != "proxy-7" {
		t.Errorf("request_id %v, want the proxy's", evs[2]["request_id"])
	}
	want := map[string]int64{
		"/upload/* PUT 2xx": 1, "/upload/* GET 2xx": 2, "/upload/* HEAD 2xx": 1, "/upload/* GET 3xx": 1,
		"/upload/* GET 4xx": 1, "other OPTIONS 2xx": 1, "other OTHER 4xx": 1,
	}
	if c := handlers.CountsOf(h.Stats().Requests); !maps.Equal(c, want) {
		t.Errorf("request counters %v, want %v", c, want)
	}
}
