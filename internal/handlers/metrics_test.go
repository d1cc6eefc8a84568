package handlers_test

import (
	"net/http"
	"testing"

	"fileserver/internal/config"
)

// Metrics on the upload port carry no CORS headers (no web page may read them from a
// visitor's browser), and metrics.allowed_networks keeps them from everyone else, judged by
// the client's address after server.trusted_proxies.
func TestMetricsPrivate(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("fileserver_up 1\n")) })
	for _, tc := range []struct {
		name    string
		allowed []string
		xff     string
		want    int
	}{
		{"open by default", nil, "", http.StatusOK},
		{"listed", []string{"127.0.0.0/8"}, "", http.StatusOK},
		{"not listed", []string{"192.0.2.0/24"}, "", http.StatusForbidden},
		{"client behind a trusted proxy, listed", []string{"192.0.2.0/24"}, "192.0.2.9", http.StatusOK},
		{"client behind a trusted proxy, not listed", []string{"127.0.0.1"}, "198.51.100.1", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startTestServer(t, serverSetup{metrics: metrics}, func(c *config.Config) {
				c.Metrics.AllowedNetworks = tc.allowed
				c.Server.TrustedProxies = []string{"127.0.0.1"}
			})
			hdr := []string{"Origin", "https://attacker.example"}
			if tc.xff != "" {
				hdr = append(hdr, "X-Forwarded-For", tc.xff)
			}
			resp, body := get(t, ts.URL+"/metrics", hdr...)
			wantStatus(t, resp, body, tc.want)
			for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Expose-Headers"} {
				if v := resp.Header.Get(h); v != "" {
					t.Errorf("metrics response carries %s: %q", h, v)
				}
			}
			pre, _ := do(t, request(t, http.MethodOptions, ts.URL+"/metrics", nil, "Origin", "https://attacker.example",
				"Access-Control-Request-Method", "GET"))
			if v := pre.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("preflight for metrics allows origin %q", v)
			}
		})
	}
	// Everything else keeps its CORS headers.
	ts := startTestServer(t, serverSetup{metrics: metrics})
	resp, _ := get(t, ts.URL+"/healthz", "Origin", "https://x.example")
	if resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("healthz lost its CORS headers")
	}
}
