package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestHealthAndReadiness(t *testing.T) {
	ts := newTestServer(t)
	check := func(path string, want int) {
		t.Helper()
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp, body := do(t, request(t, method, ts.URL+path, nil))
			wantStatus(t, resp, body, want)
		}
	}
	check("/healthz", http.StatusOK)
	check("/readyz", http.StatusOK)
	ts.h.Drain()
	check("/readyz", http.StatusServiceUnavailable)
	check("/healthz", http.StatusOK) // draining is not dead
}

func TestRequestID(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"none", "", false},
		{"sane", "proxy-1234.abc_DEF", true},
		{"spaces", "bad id", false},
		{"header injection", "a\tb", false},
		{"too long", strings.Repeat("a", 65), false},
		{"quotes", `x"y`, false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.sent != "" {
				hdr = []string{"X-Request-Id", tt.sent}
			}
			resp, body := get(t, ts.fileURL("missing"), hdr...)
			wantStatus(t, resp, body, http.StatusNotFound)
			id := resp.Header.Get("X-Request-Id")
			switch {
			case tt.kept && id != tt.sent:
				t.Errorf("X-Request-Id %q, want the proxy's %q", id, tt.sent)
			case !tt.kept && (id == "" || id == tt.sent || !validID(id)):
				t.Errorf("X-Request-Id %q for %q, want a fresh sane id", id, tt.sent)
			case !tt.kept && seen[id]:
				t.Errorf("X-Request-Id %q reused", id)
			}
			seen[id] = true
		})
	}
}

func validID(s string) bool {
	return len(s) > 0 && len(s) <= 64 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == ""
}
