package metrics_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"fileserver/internal/app"
	"fileserver/internal/chunking"
	"fileserver/internal/config"
	"fileserver/internal/counters"
	"fileserver/internal/handlers"
	"fileserver/internal/hmacauth"
	"fileserver/internal/metrics"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

const secret = "metrics-test-secret-0123456789-0123456789"

// server wires a real fileserver as cmd/fileserver does, metrics included.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	cfg := config.Default()
	cfg.Storage.Path, cfg.Auth.Secret = t.TempDir(), secret
	st, err := storage.OpenLocal(cfg.Storage.Path, storage.LocalOptions{Fsync: false, Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sessions, _ := chunking.NewDirStore(st.Root(), false)
	engine := streaming.New(app.EngineOptions(cfg.Streaming))
	uploads := chunking.New(sessions, st.Backend(), chunking.Options{TTL: time.Hour, Copier: engine})
	stats := counters.NewHTTP()
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = handlers.New(handlers.Options{
		Config: app.HandlerConfig(cfg), Storage: st.Backend(), Engine: engine, Log: zerolog.Nop(), Uploads: uploads, Stats: stats,
		Verifier: hmacauth.NewVerifier(hmacauth.Options{Secret: secret}),
		Metrics:  metrics.Handler(metrics.Sources{Engine: engine, HTTP: stats, Uploads: uploads, Store: st}),
		Listen:   srv.Listener.Addr().String(),
	})
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, u string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// Traffic of every kind moves the counters a dashboard reads.
func TestTrafficMovesCounters(t *testing.T) {
	srv := server(t)
	body := bytes.Repeat([]byte("x"), 300_000)
	put := srv.URL + "/upload/a/b.bin?v=" + hmacauth.SignV1(secret, "a/b.bin", int64(len(body)))
	if r := do(t, "PUT", put, body); r.StatusCode != 201 {
		t.Fatalf("PUT %d", r.StatusCode)
	}
	do(t, "GET", srv.URL+"/upload/a/b.bin", nil)
	do(t, "GET", srv.URL+"/upload/a/b.bin", nil, "Range", "bytes=0-99")
	do(t, "PUT", srv.URL+"/upload/x.bin?v=deadbeef", []byte("1")) // bad signature
	do(t, "GET", srv.URL+"/upload/missing", nil)                  // 404
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	create := srv.URL + "/files/?v3=" + hmacauth.SignV3(secret, "POST", "/files/", mustAtoi(exp)) + "&expires=" + exp
	resp := do(t, "POST", create, nil, "Tus-Resumable", "1.0.0", "Upload-Length", "10")
	loc := resp.Header.Get("Location")
	do(t, "PATCH", loc, []byte("01234"), "Tus-Resumable", "1.0.0", "Upload-Offset", "0", "Content-Type", "application/offset+octet-stream")
	do(t, "PATCH", loc, []byte("zz"), "Tus-Resumable", "1.0.0", "Upload-Offset", "3", "Content-Type", "application/offset+octet-stream")
	do(t, "PATCH", loc, []byte("56789"), "Tus-Resumable", "1.0.0", "Upload-Offset", "5", "Content-Type", "application/offset+octet-stream")

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := string(text)
	for _, want := range []string{
		`fileserver_transfers_total{direction="upload",protocol="v1",result="ok"} 1`,
		`fileserver_transfer_bytes_total{direction="upload",protocol="v1"} 300000`,
		`fileserver_transfers_total{direction="download",protocol="get",result="ok"} 2`,
		`fileserver_transfer_duration_seconds_bucket{direction="upload",protocol="v1",le="+Inf"} 1`,
		`fileserver_transfer_size_bytes_bucket{direction="upload",protocol="v1",le="1.048576e+06"} 1`,
		`fileserver_download_ttfb_seconds_count{protocol="get"} 2`,
		`fileserver_http_requests_total{code="2xx",method="PUT",route="/upload/*"} 1`,
		`fileserver_http_requests_total{code="4xx",method="GET",route="/upload/*"} 1`,
		`fileserver_http_request_duration_seconds_count{method="PATCH",route="/files/{id}"} 3`,
		`fileserver_auth_failures_total{reason="bad_signature",scheme="v1"} 1`,
		`fileserver_sessions_created_total 1`,
		`fileserver_sessions_completed_total 1`,
		`fileserver_session_offset_conflicts_total 1`,
		`fileserver_sessions_resumed_total 1`,
		`fileserver_stored_files 2`,
		`fileserver_stored_bytes 300010`,
		`fileserver_storage_free_bytes `,
		`fileserver_storage_capacity_bytes `,
		`fileserver_buffer_pool_budget_bytes `,
		`fileserver_buffer_size_bytes_count `,
		`fileserver_client_profiles `,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Label values come from fixed sets: no file name or id reaches them.
	for _, leak := range []string{"b.bin", "missing", loc[strings.LastIndex(loc, "/")+1:]} {
		if strings.Contains(out, leak) {
			t.Errorf("a request's path (%q) became a label value", leak)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.CommandContext(context.Background(), promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(text)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, msg)
		}
	}
}

func mustAtoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Failure counters whose label values are known are there at 0 before anything failed, so
// dashboards and alerts see the series from the start.
func TestFailureSeriesFromTheStart(t *testing.T) {
	srv := server(t)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`fileserver_storage_errors_total{kind="no_space"} 0`,
		`fileserver_storage_errors_total{kind="io"} 0`,
		`fileserver_auth_failures_total{reason="bad_signature",scheme="v2"} 0`,
		`fileserver_auth_failures_total{reason="token_expired",scheme="token"} 0`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("no %s at start-up", want)
		}
	}
}
