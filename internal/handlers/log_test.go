package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"fileserver/internal/counters"
)

// logBuffer collects a logger's JSON events; the server writes them from its own goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// events waits until n events are there (a response can reach the client before its event
// is written) and returns them.
func (b *logBuffer) events(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		lines := strings.Split(strings.TrimSpace(b.buf.String()), "\n")
		b.mu.Unlock()
		if len(lines) == 1 && lines[0] == "" {
			lines = nil
		}
		if len(lines) >= n || time.Now().After(deadline) {
			var evs []map[string]any
			for _, l := range lines {
				var ev map[string]any
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
				evs = append(evs, ev)
			}
			if len(evs) != n {
				t.Fatalf("%d log events, want %d:\n%s", len(evs), n, lines)
			}
			return evs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func counts(c *counters.CounterVec) map[string]int64 {
	m := map[string]int64{}
	c.Each(func(l []string, n int64) { m[strings.Join(l, " ")] = n })
	return m
}

// logged is the request chain of New around a router that the test fills in.
func logged(t *testing.T, routes func(chi.Router)) (*httptest.Server, *logBuffer, *Stats) {
	logs := &logBuffer{}
	stats := &Stats{HTTP: counters.NewHTTP()}
	r := chi.NewRouter()
	routes(r)
	srv := httptest.NewServer(logRequests(zerolog.New(logs), stats, nil)(r))
	t.Cleanup(srv.Close)
	return srv, logs, stats
}

// The writer the chain hands on offers what net/http's does on HTTP/1 (io.ReaderFrom keeps
// sendfile) and counts what goes through each of them; interim responses are not the status.
func TestRequestLogWriter(t *testing.T) {
	srv, logs, stats := logged(t, func(r chi.Router) {
		r.Get("/readfrom", func(w http.ResponseWriter, r *http.Request) {
			_, rf := w.(io.ReaderFrom)
			_, hj := w.(http.Hijacker)
			_, fl := w.(http.Flusher)
			if !rf || !hj || !fl {
				t.Errorf("ReaderFrom %v, Hijacker %v, Flusher %v; want all", rf, hj, fl)
			}
			if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
			}
			w.(io.ReaderFrom).ReadFrom(strings.NewReader("hello"))
			w.Write([]byte(" world"))
		})
		r.Post("/interim", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusCreated)
			w.WriteHeader(http.StatusTeapot) // ignored, as net/http ignores it
		})
		r.Get("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
		r.Route("/sub", func(r chi.Router) {
			r.Get("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
				if infoFrom(r.Context()) == nil {
					t.Error("no requestInfo in the request's context")
				}
				io.WriteString(w, chi.URLParam(r, "id"))
			})
		})
	})
	for _, tt := range []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodGet, "/readfrom", http.StatusOK, "hello world"},
		{http.MethodPost, "/interim", http.StatusCreated, ""},
		{http.MethodGet, "/panic", http.StatusInternalServerError, "internal error\n"},
		{http.MethodGet, "/sub/items/42", http.StatusOK, "42"},
		{http.MethodGet, "/nowhere", http.StatusNotFound, "404 page not found\n"},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || string(body) != tt.body {
			t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id", tt.method, tt.path)
		}
	}
	evs := logs.events(t, 6) // the panic adds its own event
	var got []string
	for _, ev := range evs {
		if ev["message"] == "request" {
			got = append(got, ev["path"].(string)+" "+jsonNumber(ev["status"])+" "+jsonNumber(ev["bytes_out"]))
		}
	}
	want := []string{"/readfrom 200 11", "/interim 201 0", "/panic 500 15", "/sub/items/42 200 2", "/nowhere 404 19"}
	if !slices.Equal(got, want) {
		t.Errorf("request events (path status bytes_out) %q, want %q", got, want)
	}
	wantCounts := map[string]int64{
		"/readfrom GET 2xx": 1, "/interim POST 2xx": 1, "/panic GET 5xx": 1,
		"/sub/items/{id} GET 2xx": 1, "other GET 4xx": 1,
	}
	if c := counts(stats.Requests); !mapsEqual(c, wantCounts) {
		t.Errorf("request counters %v, want %v", c, wantCounts)
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Behind a trusted proxy the event's remote is the client the proxy names, as limits and
// metrics see it; from anyone else the forwarded header is ignored.
func TestRequestLogRemoteBehindTrustedProxy(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		logs := &logBuffer{}
		var px proxies
		if trusted {
			px = proxies{netip.MustParsePrefix("127.0.0.0/8")}
		}
		r := chi.NewRouter()
		r.Get("/", func(w http.ResponseWriter, r *http.Request) {})
		srv := httptest.NewServer(logRequests(zerolog.New(logs), &Stats{HTTP: counters.NewHTTP()}, px)(r))
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := "127.0.0.1"
		if trusted {
			want = "203.0.113.7"
		}
		if ev := logs.events(t, 1)[0]; ev["remote"] != want {
			t.Errorf("trusted=%v: remote %v, want %s", trusted, ev["remote"], want)
		}
		srv.Close()
	}
}
